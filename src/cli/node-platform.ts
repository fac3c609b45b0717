// What the Deno and Node entry points share: @effect/platform's Node services (Deno runs them
// through its Node compatibility). Bun's entry point uses @effect/platform-bun instead.
import * as NodeFileSystem from "@effect/platform-node-shared/NodeFileSystem"
import * as NodePath from "@effect/platform-node-shared/NodePath"
import * as NodeRuntime from "@effect/platform-node-shared/NodeRuntime"
import * as NodeTerminal from "@effect/platform-node-shared/NodeTerminal"
import { Layer } from "effect"

/** File system, paths and terminal, as @effect/cli and the commands need them. */
export const nodeContext = Layer.mergeAll(NodeFileSystem.layer, NodePath.layer, NodeTerminal.layer)

export const nodeRunMain = NodeRuntime.runMain

/** `jane.doe@example.com` → `j***@example.com`: enough to recognise a row, not to harvest addresses. */
export const maskEmail = (email: string): string => {
  const at = email.lastIndexOf("@")
  if (at <= 0) return email.length <= 1 ? "***" : `${email[0]}***`
  return `${email[0]}***${email.slice(at)}`
}

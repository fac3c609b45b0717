/** The page's stylesheet: system fonts, colours with at least 4.5:1 contrast on their background. */
export const pageStyle = `
:root{--ink:#1d232b;--muted:#505a66;--line:#d5dbe2;--bg:#f6f8fa;--accent:#1b4f9c;--ok:#1d6b35;--bad:#a8200d;--warn:#7a4d00}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:var(--ink);background:#fff}
header.top{display:flex;flex-wrap:wrap;gap:1rem;align-items:center;justify-content:space-between;padding:.8rem 1.5rem;background:var(--bg);border-bottom:1px solid var(--line)}
header.top h1{font-size:1.3rem;margin:0}
main{padding:0 1.5rem 2rem;max-width:1400px}
section{margin-top:1.6rem}
h2{font-size:1.1rem;margin:0 0 .6rem;border-bottom:2px solid var(--line);padding-bottom:.2rem}
h3{font-size:.95rem;margin:1rem 0 .4rem}
table{border-collapse:collapse;width:100%}
th,td{border-bottom:1px solid var(--line);padding:.35rem .45rem;text-align:left;vertical-align:top}
thead th{background:var(--bg);white-space:nowrap}
tbody th{font-weight:600}
.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.verdict{min-width:12rem;max-width:18rem}
.name{word-break:break-all;min-width:8rem}
.scroll{overflow-x:auto}
a{color:var(--accent)}
a.sort{text-decoration:none;color:var(--ink)}
a.sort:hover,a.sort:focus{text-decoration:underline}
button{font:inherit;border:1px solid var(--accent);background:var(--accent);color:#fff;border-radius:4px;padding:.2rem .65rem;cursor:pointer}
button.dry-run{background:#fff;color:var(--accent)}
button.stop{background:var(--bad);border-color:var(--bad)}
button:focus-visible,a:focus-visible,input:focus-visible{outline:3px solid #f0b400;outline-offset:1px}
button:disabled{opacity:.6;cursor:wait}
input{font:inherit;padding:.2rem .4rem;border:1px solid #6b7683;border-radius:4px}
.muted{color:var(--muted)}
.error{color:var(--bad)}
.empty{color:var(--muted);font-style:italic}
.badge{display:inline-block;border-radius:10px;padding:0 .5rem;font-size:12px;font-weight:600;border:1px solid currentColor}
.badge.worth,.state-failed{color:var(--bad)}
.badge.fine,.state-succeeded{color:var(--ok)}
.state-stopped,.state-interrupted{color:var(--warn)}
.state-running,.state-waiting{color:var(--accent)}
.reason{color:var(--muted);font-size:12px}
.share-bar{display:inline-block;min-width:4.5rem;background:linear-gradient(90deg,#f5c9c0 var(--share),transparent var(--share));padding:0 .3rem}
.result{font-size:12px;margin-top:.2rem;max-width:28rem}
.actions{white-space:nowrap}
.actions .result{white-space:normal}
form.filter{display:flex;gap:.5rem;align-items:center;margin-bottom:.5rem;flex-wrap:wrap}
.pager{display:flex;gap:1rem;margin-top:.5rem}
.runs{list-style:none;padding:0;margin:0}
.run{border:1px solid var(--line);border-radius:6px;padding:.5rem .7rem;margin-bottom:.5rem;display:grid;grid-template-columns:1fr auto;gap:.3rem .8rem;align-items:center}
.run-head{grid-column:1/-1;display:flex;gap:1rem;justify-content:space-between;flex-wrap:wrap}
.run progress{width:100%;height:1.1rem}
.run .words{grid-column:1;font-variant-numeric:tabular-nums}
.run button{grid-column:2;grid-row:2/4}
.run .parts{grid-column:1;list-style:none;margin:.2rem 0 0;padding:0 0 0 1rem;border-left:2px solid var(--line)}
.run .part{display:grid;grid-template-columns:minmax(8rem,16rem) 1fr auto;gap:.6rem;align-items:center;font-size:12px}
.run .part-name{word-break:break-all}
.run .part progress{height:.7rem}
.run .part-words{font-variant-numeric:tabular-nums;white-space:nowrap}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(380px,1fr));gap:1rem}
figure.chart{margin:0}
figure.chart svg{width:100%;height:auto;border:1px solid var(--line);border-radius:6px;background:#fff}
figcaption{font-size:12px;color:var(--muted)}
svg .grid{stroke:#e3e7ec}
svg .axis{font-size:11px;fill:var(--muted)}
svg .bar{fill:#2f6fd0}
svg .stopped .bar{fill:#c98a00}
svg .failed .bar{fill:var(--bad)}
svg .time{fill:#1d232b}
svg .time-line{fill:none;stroke:#1d232b;stroke-width:1;stroke-dasharray:3 3}
dl.fields{display:flex;flex-wrap:wrap;gap:.1rem 1rem;margin:0}
dl.fields div,dl.glance div{display:flex;gap:.35rem}
dl.fields dt{color:var(--muted)}
dl.fields dd,dl.glance dd{margin:0}
dl.glance{display:grid;grid-template-columns:repeat(auto-fit,minmax(300px,1fr));gap:.3rem 2rem;margin:0}
dl.glance dt{font-weight:600;min-width:11rem}
.big{font-size:1.3rem}
#sign-in{display:flex;gap:.5rem;align-items:center}
.visually-hidden{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
[aria-busy="true"]{opacity:.6}
`

// The status page's one document: a table of the master's workers that its own script refreshes
// every second from status.json (no external asset, no framework). Every value goes into the page
// as text (textContent), never as markup: a request's path is whatever a client sent. Its duration
// and memory formats are `forkserve status`'s (status-client.ts).

export const STATUS_PAGE_STYLE = `
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #212529; background: #fff; }
  h1 { font-size: 1.3em; margin: 0 0 .3em; }
  p { margin: .3em 0; }
  table { border-collapse: collapse; margin: .8em 0; min-width: 48em; }
  th, td { padding: .3em .7em; border-bottom: 1px solid #dee2e6; text-align: left; white-space: nowrap; }
  th { background: #343a40; color: #fff; font-weight: 600; }
  td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
  td.request { font-family: ui-monospace, monospace; max-width: 32em; overflow: hidden; text-overflow: ellipsis; }
  tr[data-state="busy"] { background: #fff3bf; }
  tr[data-state="stuck"] { background: #ffc9c9; }
  tr[data-state="stopping"] { background: #e9ecef; color: #495057; }
  tr[data-state="booting"] { background: #d0ebff; }
  #error { background: #ffc9c9; padding: .4em .7em; }
  .quiet { color: #868e96; }
`;

export const STATUS_PAGE_SCRIPT = `
'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  const two = (n) => String(n).padStart(2, '0');
  const duration = (ms) => {
    if (ms === null || ms === undefined) return '-';
    const s = Math.floor(ms / 1000);
    if (ms < 60000) return (ms / 1000).toFixed(1) + ' s';
    if (s < 3600) return Math.floor(s / 60) + 'm ' + two(s % 60) + 's';
    if (s < 86400) return Math.floor(s / 3600) + 'h ' + two(Math.floor(s / 60) % 60) + 'm';
    return Math.floor(s / 86400) + 'd ' + two(Math.floor(s / 3600) % 24) + 'h';
  };
  const mb = (kb) => (kb === null || kb === undefined ? '-' : (kb / 1024).toFixed(1) + ' MB');
  const cell = (tr, text, className) => {
    const td = document.createElement('td');
    td.textContent = text;
    if (className) td.className = className;
    tr.append(td);
    return td;
  };

  function render(s) {
    const m = s.master;
    const n = s.workers.length;
    $('summary').textContent = 'master ' + m.pid + ', ' + m.state + ', up ' + duration(m.uptimeMs) + ', ' +
      n + (n === 1 ? ' worker' : ' workers') + ' (target ' + m.workersTarget + ')';
    const rows = s.workers.map((w) => {
      const tr = document.createElement('tr');
      tr.dataset.pid = String(w.pid);
      tr.dataset.state = w.state;
      cell(tr, String(w.pid), 'n');
      cell(tr, w.stopping ? w.state + ' (' + w.stopping + ')' : w.state, 'state');
      cell(tr, w.request === null ? '-' : w.request + (w.inFlight > 1 ? ' (+' + (w.inFlight - 1) + ')' : ''), 'request').title = w.request || '';
      cell(tr, duration(w.requestMs), 'n');
      cell(tr, String(w.connections), 'n');
      cell(tr, String(w.requests), 'n');
      cell(tr, mb(w.rssKb), 'n');
      cell(tr, mb(w.pssKb), 'n');
      cell(tr, duration(w.ageMs), 'n');
      return tr;
    });
    if (n === 0) {
      const tr = document.createElement('tr');
      cell(tr, 'no workers', 'quiet').colSpan = 9;
      rows.push(tr);
    }
    $('workers').tBodies[0].replaceChildren(...rows);
    const pss = [m, ...s.workers].map((p) => p.pssKb);
    $('memory').textContent = 'master RSS ' + mb(m.rssKb) + ', PSS ' + mb(m.pssKb) +
      (pss.includes(null) ? '' : '; PSS of the master and its workers: ' + mb(pss.reduce((a, b) => a + b, 0)));
    $('updated').textContent = new Date(s.time).toLocaleTimeString();
  }

  async function poll() {
    try {
      const r = await fetch('status.json', { cache: 'no-store', signal: AbortSignal.timeout(5000) });
      if (!r.ok) throw new Error('HTTP ' + r.status);
      render(await r.json());
      $('error').hidden = true;
    } catch (err) {
      $('error').textContent = 'The master does not answer (' + err.message + '); trying again every second.';
      $('error').hidden = false;
    }
    setTimeout(poll, 1000);
  }
  poll();
})();
`;

export const STATUS_PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>forkserve status</title>
<link rel="icon" href="data:,">
<style>${STATUS_PAGE_STYLE}</style>
</head>
<body>
<h1>forkserve</h1>
<p id="summary">Loading&hellip;</p>
<p id="error" role="alert" hidden></p>
<table id="workers">
<thead><tr><th class="n">PID</th><th>State</th><th>Request</th><th class="n">For</th><th class="n">Conns</th><th class="n">Served</th><th class="n">RSS</th><th class="n">PSS</th><th class="n">Age</th></tr></thead>
<tbody></tbody>
</table>
<p id="memory"></p>
<p class="quiet">Updated <span id="updated">-</span>, every second, from <a href="status.json">status.json</a>.
A worker is stuck when its event loop has not run for 2 s. PSS shares each page among the processes that map it.</p>
<noscript><p>This page needs JavaScript to show the workers; <a href="status.json">status.json</a> has them.</p></noscript>
<script>${STATUS_PAGE_SCRIPT}</script>
</body>
</html>
`;

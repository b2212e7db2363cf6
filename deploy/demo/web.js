// Demo HTTP service: every response names the task that served it.
'use strict';
const http = require('node:http');

const host = process.env.SHOAL_TASK_ADDR || '127.0.0.1';
const port = Number(process.env.PORT || 8000);
const task = process.env.SHOAL_TASK_ID || 'local';
const slot = process.env.SHOAL_TASK_SLOT || '0';
const node = process.env.SHOAL_NODE_ID || 'none';
const service = process.env.SHOAL_SERVICE_NAME || 'web';
const version = process.env.VERSION || '1';

const server = http.createServer((req, res) => {
  const body = JSON.stringify({ service, version, task, slot, node, path: req.url }) + '\n';
  res.writeHead(200, { 'content-type': 'application/json', 'x-shoal-task': task });
  res.end(body);
});
server.keepAliveTimeout = 65_000;
server.listen(port, host, () => console.log(`web task ${task} (slot ${slot}) listening on ${host}:${port}`));
process.on('SIGTERM', () => {
  console.log('SIGTERM: closing');
  server.close(() => process.exit(0));
  server.closeIdleConnections();
});

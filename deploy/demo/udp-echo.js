// Demo UDP service: echoes each datagram back, prefixed with the task id.
'use strict';
const dgram = require('node:dgram');

const host = process.env.SHOAL_TASK_ADDR || '127.0.0.1';
const port = Number(process.env.PORT || 5301);
const task = process.env.SHOAL_TASK_ID || 'local';

const sock = dgram.createSocket('udp4');
sock.on('message', (msg, rinfo) => {
  sock.send(Buffer.concat([Buffer.from(`${task} `), msg]), rinfo.port, rinfo.address);
});
sock.bind(port, host, () => console.log(`echo task ${task} listening on udp ${host}:${port}`));
process.on('SIGTERM', () => {
  console.log('SIGTERM: closing');
  sock.close(() => process.exit(0));
});

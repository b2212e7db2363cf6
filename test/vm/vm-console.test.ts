import t from 'tap';
import { beginLine, endLine, errorLine, jsonLine, parseVmConsole } from './vm-console';

t.test('reads blocks, JSON, errors and the exit status out of a serial console', async (t) => {
  const console = [
    '\x1b[2J\x1b[0mSeaBIOS (version 1.16.2)',
    `${jsonLine('probe', { ok: true, version: '1.2.1' })}`,
    '[   19.23] IPVS: ipvs loaded.',
    beginLine('initial'),
    'TCP  10.0.0.192:80 rr',
    '  -> 10.0.1.1:8080   Masq 1 0 0   ',
    endLine('initial'),
    beginLine('unterminated'),
    'lost',
    `[ 20.1] noise ${errorLine('Error: boom\n    at main')}`,
    '@@SHOAL-VM json broken {nope',
    '@@SHOAL-VM exit 0',
    '[ 25.1] reboot: Power down',
  ].join('\r\n');
  const vm = parseVmConsole(console);
  t.same([...vm.json.entries()], [['probe', { ok: true, version: '1.2.1' }]]);
  t.same([...vm.blocks.entries()], [['initial', 'TCP  10.0.0.192:80 rr\n  -> 10.0.1.1:8080   Masq 1 0 0']]);
  t.same(vm.errors, ['Error: boom at main', 'unreadable JSON for broken: {nope']);
  t.equal(vm.exitCode, 0);
});

t.test('a console that never reached the end', async (t) => {
  const vm = parseVmConsole('Booting from ROM...\r\n');
  t.equal(vm.exitCode, undefined);
  t.equal(vm.blocks.size + vm.json.size + vm.errors.length, 0);
});

/**
 * How etcd3's errors become shoal's, and which of them let a write go to
 * another member (only those that prove it was never sent).
 */
import { ClientClosedError, EtcdPermissionDeniedError, GRPCDeadlineExceededError, GRPCInvalidArgumentError, GRPCUnavailableError } from 'etcd3';
import t from 'tap';
import { NoQuorumError } from '../../src/errors';
import { memberFailure, neverSent, storeError } from '../../src/store/etcd-errors';

t.test('each etcd3 error: its shoal code, and whether a read or a write may be retried', async (t) => {
  const cases: [string, Error, string, boolean, boolean][] = [
    // what, error, code, read retried, write retried
    ['no channel ready', new GRPCUnavailableError('14 UNAVAILABLE: No connection established. Last error: null'), 'SHOAL_ERR_NO_QUORUM', true, true],
    ['connection refused', new GRPCUnavailableError('14 UNAVAILABLE: connect ECONNREFUSED 127.0.0.1:2379'), 'SHOAL_ERR_NO_QUORUM', true, true],
    ['connection dropped mid-call', new GRPCUnavailableError('14 UNAVAILABLE: Connection dropped'), 'SHOAL_ERR_NO_QUORUM', true, false],
    ['no leader', new GRPCUnavailableError('14 UNAVAILABLE: etcdserver: no leader'), 'SHOAL_ERR_NO_QUORUM', true, false],
    ['request timed out in etcd', new GRPCUnavailableError('14 UNAVAILABLE: etcdserver: request timed out'), 'SHOAL_ERR_NO_QUORUM', true, false],
    ['our deadline', new GRPCDeadlineExceededError('4 DEADLINE_EXCEEDED: Deadline exceeded'), 'SHOAL_ERR_NO_QUORUM', true, false],
    ['every member skipped', new NoQuorumError('etcd member m0 is skipped'), 'SHOAL_ERR_NO_QUORUM', true, true],
    ['duplicate key in a txn', new GRPCInvalidArgumentError('3 INVALID_ARGUMENT: etcdserver: duplicate key given in txn request'), 'SHOAL_ERR_STORE_REQUEST_FAILED', false, false],
    ['too many ops in a txn', new GRPCInvalidArgumentError('3 INVALID_ARGUMENT: etcdserver: too many operations in txn request'), 'SHOAL_ERR_STORE_REQUEST_FAILED', false, false],
    ['permission denied', new EtcdPermissionDeniedError('etcdserver: permission denied'), 'SHOAL_ERR_STORE_REQUEST_FAILED', false, false],
    ['client closed', new ClientClosedError('KV'), 'SHOAL_ERR_STORE_CLOSED', false, false],
  ];
  for (const [what, err, code, read, write] of cases) {
    t.equal(storeError(err, 'put /k').code, code, `${what}: ${code}`);
    t.equal(memberFailure(err), read, `${what}: read retried ${read}`);
    t.equal(neverSent(err), write, `${what}: write retried ${write}`);
  }
  t.match(storeError(new GRPCDeadlineExceededError('Deadline exceeded'), 'put /nodes/a').message, /put \/nodes\/a/, 'the message names the call');
  // As grpc-js words a TLS handshake the member refused: the OpenSSL error, then a line with the time.
  const tls = new GRPCUnavailableError(
    '14 UNAVAILABLE: No connection established. Last error: 800C519A347F0000:error:0A000412:SSL routines:ssl3_read_bytes:sslv3 alert bad certificate:../deps/openssl/openssl/ssl/record/rec_layer_s3.c:1601:SSL alert number 42\n (2026-12-08T01:38:11.316Z). Resolution note: ',
  );
  const message = storeError(tls, 'range (revision)').message;
  t.equal(message.split('\n').length, 1, `a grpc error over several lines becomes one: ${message}`);
  t.match(message, /bad certificate.*SSL alert number 42 \(2026-12-08T01:38:11\.316Z\)\. Resolution note:$/, 'with all its words');
});

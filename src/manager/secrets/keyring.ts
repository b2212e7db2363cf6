/**
 * The managers' data key, which seals secrets in the store. It never goes
 * into the store: each manager keeps it in `<stateDir>/manager/secrets.key`
 * (mode 0600), and a manager joining on a shared store (etcd) is handed the
 * same key by a manager it joins (KeyringApi's `GET /v1/swarm/secrets-key`).
 *
 * With autolock (`swarm init --autolock`) the file holds the key wrapped
 * (AES-256-GCM) under a key derived with scrypt from an unlock key that is
 * printed once; after a restart the manager is locked (SwarmLockedError)
 * until `shoal swarm unlock` gives the unlock key back.
 */
import crypto from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { CorruptStoreError, InvalidArgumentError, InvalidUnlockKeyError, SwarmLockedError } from '../../errors';
import { DATA_KEY_BYTES } from './sealing';

const scrypt = promisify(crypto.scrypt) as (password: Buffer, salt: Buffer, keylen: number, options: crypto.ScryptOptions) => Promise<Buffer>;

/** Directory of the data key under the state dir (removed when the node stops being a manager). */
export const KEY_DIR = 'manager';
/** File of the data key under the state dir. */
export const KEY_FILE = path.join(KEY_DIR, 'secrets.key');
/** Docker's SWMKEY-1-... shape: a prefix, then 32 random bytes in base64url. */
const UNLOCK_KEY_PREFIX = 'SHOAL-KEY-1-';
const UNLOCK_KEY_RE = /^SHOAL-KEY-1-[A-Za-z0-9_-]{43}$/;
/** scrypt cost: 2^15 with r=8 takes 32 MiB and a few tens of ms, once per start or unlock. */
const SCRYPT = { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };
const LOCKED_MESSAGE = 'this manager is locked: run `shoal swarm unlock` and give the unlock key printed at swarm init';

/** The data key as a joining manager receives it, with the unlock key when the swarm autolocks. */
export interface SharedKey {
  key: string;
  unlockKey?: string;
}

/** What secrets.key holds: the key, or the key wrapped under the unlock key. */
type KeyFile = { version: 1; key: string } | { version: 1; wrapped: { salt: string; nonce: string; tag: string; ciphertext: string } };

/** Options of opening the keyring. */
export interface KeyringOpenOptions {
  /** A new swarm with autolock: wrap the key under a fresh unlock key. */
  autolock?: boolean;
  /** Joining managers on a shared store: take this key (and unlock key) instead of making one. */
  shared?: SharedKey;
}

/** One manager's hold on the data key: locked or not, and the unlock key while known. */
export class SecretsKeyring {
  private key: Buffer | undefined;
  private unlock?: string;

  private constructor(
    private readonly file: string,
    private readonly stored: KeyFile,
  ) {}

  /** Load `<stateDir>/manager/secrets.key`, or make it (a new swarm, a joining manager). */
  static async open(stateDir: string, options: KeyringOpenOptions = {}): Promise<SecretsKeyring> {
    const file = path.join(stateDir, KEY_FILE);
    let text: string | undefined;
    try {
      text = await fs.readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (text !== undefined && !options.shared) {
      let stored: KeyFile;
      try {
        stored = JSON.parse(text) as KeyFile;
      } catch {
        throw new CorruptStoreError(`${file} is not a shoal key file`);
      }
      const ring = new SecretsKeyring(file, stored);
      if ('key' in stored) ring.key = Buffer.from(stored.key, 'base64');
      return ring;
    }
    const key = options.shared ? Buffer.from(options.shared.key, 'base64') : crypto.randomBytes(DATA_KEY_BYTES);
    if (key.length !== DATA_KEY_BYTES) throw new InvalidArgumentError('the shared data key has the wrong length');
    const unlockKey = options.shared ? options.shared.unlockKey : options.autolock ? UNLOCK_KEY_PREFIX + crypto.randomBytes(32).toString('base64url') : undefined;
    const stored: KeyFile = unlockKey ? { version: 1, wrapped: await wrap(key, unlockKey) } : { version: 1, key: key.toString('base64') };
    await writePrivate(file, JSON.stringify(stored));
    const ring = new SecretsKeyring(file, stored);
    ring.key = key;
    ring.unlock = unlockKey;
    return ring;
  }

  /** A fresh key kept in memory only: for a manager built without a state dir (tests). */
  static inMemory(): SecretsKeyring {
    const key = crypto.randomBytes(DATA_KEY_BYTES);
    const ring = new SecretsKeyring('(memory)', { version: 1, key: key.toString('base64') });
    ring.key = key;
    return ring;
  }

  /** Whether the swarm autolocks (the key file is wrapped). */
  get autolock(): boolean {
    return 'wrapped' in this.stored;
  }

  /** Whether the key is still wrapped: secrets cannot be sealed, opened nor handed out. */
  locked(): boolean {
    return !this.key;
  }

  /** The data key; SwarmLockedError while locked. */
  dataKey(): Buffer {
    if (!this.key) throw new SwarmLockedError(LOCKED_MESSAGE);
    return this.key;
  }

  /** The unlock key (autolock only); SwarmLockedError while locked, InvalidArgumentError without autolock. */
  unlockKey(): string {
    if (!this.autolock) throw new InvalidArgumentError('autolock is not enabled: this swarm has no unlock key (swarm init --autolock)');
    if (!this.unlock) throw new SwarmLockedError(LOCKED_MESSAGE);
    return this.unlock;
  }

  /** `swarm unlock`: unwrap the key with the unlock key; InvalidUnlockKeyError if it does not. */
  async unlockWith(unlockKey: string): Promise<void> {
    if (!('wrapped' in this.stored)) throw new InvalidArgumentError('this manager is not locked (autolock is not enabled)');
    if (this.key) return;
    const given = unlockKey.trim();
    if (!UNLOCK_KEY_RE.test(given)) throw new InvalidUnlockKeyError('invalid unlock key: it should look like SHOAL-KEY-1-...');
    this.key = await unwrap(this.stored.wrapped, given);
    this.unlock = given;
  }

  /** What a joining manager needs: the key, and the unlock key when autolocked. */
  share(): SharedKey {
    const key = this.dataKey().toString('base64');
    return this.autolock ? { key, unlockKey: this.unlockKey() } : { key };
  }

  /** Where the key lives, for messages. */
  get path(): string {
    return this.file;
  }
}

async function kekOf(unlockKey: string, salt: Buffer): Promise<Buffer> {
  return scrypt(Buffer.from(unlockKey, 'utf8'), salt, DATA_KEY_BYTES, SCRYPT);
}

async function wrap(key: Buffer, unlockKey: string): Promise<{ salt: string; nonce: string; tag: string; ciphertext: string }> {
  const salt = crypto.randomBytes(16);
  const nonce = crypto.randomBytes(12);
  const cipher = crypto.createCipheriv('aes-256-gcm', await kekOf(unlockKey, salt), nonce);
  const ciphertext = Buffer.concat([cipher.update(key), cipher.final()]);
  return { salt: salt.toString('base64'), nonce: nonce.toString('base64'), tag: cipher.getAuthTag().toString('base64'), ciphertext: ciphertext.toString('base64') };
}

async function unwrap(w: { salt: string; nonce: string; tag: string; ciphertext: string }, unlockKey: string): Promise<Buffer> {
  const kek = await kekOf(unlockKey, Buffer.from(w.salt, 'base64'));
  try {
    const d = crypto.createDecipheriv('aes-256-gcm', kek, Buffer.from(w.nonce, 'base64'));
    d.setAuthTag(Buffer.from(w.tag, 'base64'));
    return Buffer.concat([d.update(Buffer.from(w.ciphertext, 'base64')), d.final()]);
  } catch {
    throw new InvalidUnlockKeyError('the unlock key is wrong: it does not unlock this manager');
  }
}

/** Write `text` to `file` with mode 0600 (its directory 0700), atomically. */
async function writePrivate(file: string, text: string): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.tmp`;
  await fs.writeFile(tmp, text, { mode: 0o600 });
  await fs.chmod(tmp, 0o600);
  await fs.rename(tmp, file);
}

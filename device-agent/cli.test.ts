import { generateKeyPairSync } from 'node:crypto';
import { once } from 'node:events';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeDeviceIdentity, makeTestPki, type TestPki } from '../test/fixtures/pki.js';
import { DEFAULT_BROKER_URL, DEFAULT_CA_FILE, DEFAULT_SERVICE_URL, USAGE, UsageError, parseCommand } from './cli-args.js';
import { main, type CliIo } from './cli.js';
import { writeIdentityFile } from './identity.js';

function capture(stopRequested: Promise<void> = new Promise(() => undefined), env: Record<string, string> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = { out: (l) => out.push(l), err: (l) => err.push(l), env, stopRequested };
  return { io, out, err };
}

describe('device-agent command line', () => {
  describe('parsing', () => {
    it('reads manufacture flags with their defaults', () => {
      expect(parseCommand(['manufacture', '--count', '3', '--out', 'devices'])).toEqual({
        kind: 'manufacture',
        count: 3,
        outDir: 'devices',
        serviceUrl: DEFAULT_SERVICE_URL,
        adminKey: null,
        caFile: DEFAULT_CA_FILE,
      });
    });

    it('takes the admin key from the flag first, then from SPHEREGATE_ADMIN_KEY', () => {
      const env = { SPHEREGATE_ADMIN_KEY: 'from-env' };
      expect(parseCommand(['manufacture', '--count', '1', '--out', 'd'], env)).toMatchObject({ adminKey: 'from-env' });
      expect(parseCommand(['manufacture', '--count', '1', '--out', 'd', '--admin-key', 'flag'], env)).toMatchObject({ adminKey: 'flag' });
    });

    it('reads run flags with their defaults', () => {
      expect(parseCommand(['run', '--identity', 'd.json'])).toEqual({
        kind: 'run',
        identityPath: 'd.json',
        brokerUrl: DEFAULT_BROKER_URL,
        caFile: null,
        attest: true,
        connectWith: 'identity',
        crashRatePerHour: 0,
        imageTrustFile: null,
      });
      expect(
        parseCommand(['run', '--identity', 'dir', '--broker', 'mqtts://sphere.example:8883', '--ca', 'root.pem', '--no-attest', '--connect-with', 'tenant-certificate']),
      ).toEqual({
        kind: 'run',
        identityPath: 'dir',
        brokerUrl: 'mqtts://sphere.example:8883',
        caFile: 'root.pem',
        attest: false,
        connectWith: 'tenant-certificate',
        crashRatePerHour: 0,
        imageTrustFile: null,
      });
    });

    it('reads fleet flags with their defaults', () => {
      expect(parseCommand(['fleet', '--count', '500'], { SPHEREGATE_ADMIN_KEY: 'k' })).toEqual({
        kind: 'fleet',
        count: 500,
        serviceUrl: 'http://localhost:4000',
        brokerUrl: DEFAULT_BROKER_URL,
        adminKey: 'k',
        caFile: './data/pki/root-ca.pem',
        claim: null,
        rampPerSecond: 100,
        upTimeoutSeconds: 60,
        attest: true,
        crashRatePerHour: 0,
        imageTrustFile: null,
        workers: 1,
      });
      expect(parseCommand(['fleet', '--count', '2', '--tenant-key', 't', '--claim-into', 'g', '--ramp', '5', '--no-attest', '--workers', '4'])).toMatchObject({
        claim: { tenantKey: 't', deviceGroupId: 'g' },
        rampPerSecond: 5,
        attest: false,
        workers: 4,
      });
    });

    it.each(['0', '65', 'two', '1.5'])('refuses --workers %s, saying what is allowed', (raw) => {
      expect(() => parseCommand(['fleet', '--count', '2', '--workers', raw])).toThrow(`--workers must be a whole number from 1 to 64, got "${raw}"`);
    });

    it.each([
      ['2', 2],
      ['0', 0],
      ['0.5', 0.5],
      ['.25', 0.25],
      ['3600', 3600],
    ])('reads --crash-rate %s for run and fleet', (raw, rate) => {
      expect(parseCommand(['run', '--identity', 'd.json', '--crash-rate', raw])).toMatchObject({ kind: 'run', crashRatePerHour: rate });
      expect(parseCommand(['fleet', '--count', '2', '--crash-rate', raw])).toMatchObject({ kind: 'fleet', crashRatePerHour: rate });
    });

    it.each(['-1', 'often', '1e3', '3600.5', '', 'NaN', 'Infinity', '1,5'])('When --crash-rate is "%s", then it says what is wrong', (raw) => {
      for (const argv of [
        ['run', '--identity', 'd.json', `--crash-rate=${raw}`],
        ['fleet', '--count', '2', `--crash-rate=${raw}`],
      ]) {
        expect(() => parseCommand(argv)).toThrow(UsageError);
        expect(() => parseCommand(argv)).toThrow(/--crash-rate must be a number of crashes per device per hour from 0 to 3600/);
      }
    });

    it('When --crash-rate has no value, then it says so', () => {
      expect(() => parseCommand(['run', '--identity', 'd.json', '--crash-rate'])).toThrow(/--crash-rate/);
    });

    it('reads --image-trust for run and fleet, and documents it for both', () => {
      expect(parseCommand(['run', '--identity', 'd.json', '--image-trust', 'keys.pem'])).toMatchObject({ kind: 'run', imageTrustFile: 'keys.pem' });
      expect(parseCommand(['fleet', '--count', '2', '--image-trust', 'keys.pem'])).toMatchObject({ kind: 'fleet', imageTrustFile: 'keys.pem' });
      expect(() => parseCommand(['run', '--identity', 'd.json', '--image-trust'])).toThrow(/--image-trust/);
      expect(USAGE).toMatch(/device-agent run[\s\S]*--image-trust FILE[\s\S]*device-agent fleet[\s\S]*--image-trust FILE/);
    });

    it('mentions --crash-rate in the help text', () => {
      expect(USAGE).toMatch(/device-agent run[\s\S]*--crash-rate R[\s\S]*device-agent fleet[\s\S]*--crash-rate R/);
    });

    it.each([
      [['frobnicate'], /unknown command "frobnicate"/],
      [['fleet'], /--count is required/],
      [['fleet', '--count', '3', '--tenant-key', 't'], /--tenant-key and --claim-into go together/],
      [['fleet', '--count', '3', '--ramp', '0'], /--ramp must be a whole number/],
      [['run', '--identity', 'd', '--connect-with', 'password'], /--connect-with: expected "identity" or "tenant-certificate"/],
      [['manufacture', '--out', 'd'], /--count is required/],
      [['manufacture', '--count', 'many', '--out', 'd'], /--count must be a whole number/],
      [['manufacture', '--count', '0', '--out', 'd'], /--count must be a whole number/],
      [['manufacture', '--count', '1'], /--out is required/],
      [['manufacture', '--count', '1', '--out', 'd', '--service', 'ftp://x'], /--service must use http: or https:/],
      [['manufacture', '--count', '1', '--out', 'd', '--colour', 'red'], /Unknown option '--colour'/],
      [['run'], /--identity is required/],
      [['run', '--identity', 'x', '--broker', 'mqtt://localhost:1883'], /--broker must use mqtts:/],
      [['run', '--identity', 'x', 'extra'], /unexpected argument "extra"/],
    ])('When given %j, then it says what is wrong', (argv, message) => {
      expect(() => parseCommand(argv)).toThrow(UsageError);
      expect(() => parseCommand(argv)).toThrow(message);
    });

    it('answers --help at the top and for each command', () => {
      for (const argv of [[], ['--help'], ['-h'], ['help'], ['run', '--help'], ['manufacture', '-h']]) {
        expect(parseCommand(argv)).toEqual({ kind: 'help' });
      }
    });
  });

  describe('running', () => {
    let pki: TestPki;
    let dir: string;
    beforeAll(async () => {
      pki = await makeTestPki();
    });
    beforeEach(async () => {
      dir = await mkdtemp(join(tmpdir(), 'spheregate-cli-'));
    });
    afterEach(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('prints usage for --help and exits 0', async () => {
      const { io, out } = capture();
      expect(await main(['--help'], io)).toBe(0);
      expect(out).toEqual([USAGE]);
    });

    it('When a flag is wrong, then it explains on stderr and exits 2', async () => {
      const { io, err } = capture();
      expect(await main(['manufacture', '--count', 'x', '--out', 'd'], io)).toBe(2);
      expect(err[0]).toMatch(/^device-agent: --count must be a whole number/);
      expect(err[1]).toMatch(/--help/);
    });

    it('When the CA file is missing, then manufacture fails with exit 1 naming the file', async () => {
      const { io, err } = capture();
      const code = await main(['manufacture', '--count', '1', '--out', dir, '--admin-key', 'k', '--ca', join(dir, 'missing.pem')], io);
      expect(code).toBe(1);
      expect(err.join('\n')).toMatch(/--ca: cannot read .*missing\.pem/);
    });

    it('When the --image-trust file holds no public key, then run fails with exit 1 naming the file', async () => {
      const made = await makeDeviceIdentity(pki.manufacturingCa);
      const identityPath = join(dir, `${made.deviceId}.json`);
      await writeIdentityFile(identityPath, {
        version: 1,
        deviceId: made.deviceId,
        privateKeyPem: made.keyPem,
        certificatePem: made.certificatePem,
        trustAnchorsPem: pki.root.certificatePem,
      });
      const keys = join(dir, 'keys.pem');
      await writeFile(keys, pki.root.certificatePem);
      const { io, err } = capture();
      expect(await main(['run', '--identity', identityPath, '--image-trust', keys], io)).toBe(1);
      expect(err.join('\n')).toMatch(/--image-trust: .*keys\.pem holds no PEM public key/);
    });

    it('When the identity path does not exist, then run fails with exit 1', async () => {
      const { io, err } = capture();
      expect(await main(['run', '--identity', join(dir, 'nope')], io)).toBe(1);
      expect(err.join('\n')).toMatch(/does not exist/);
    });

    it('runs every identity file of a directory, logs their state changes and stops cleanly when asked', async () => {
      const devicesDir = join(dir, 'devices');
      await mkdir(devicesDir);
      const ids: string[] = [];
      for (let i = 0; i < 2; i++) {
        const made = await makeDeviceIdentity(pki.manufacturingCa);
        ids.push(made.deviceId);
        await writeIdentityFile(join(devicesDir, `${made.deviceId}.json`), {
          version: 1,
          deviceId: made.deviceId,
          privateKeyPem: made.keyPem,
          certificatePem: made.certificatePem,
          trustAnchorsPem: pki.root.certificatePem,
        });
      }
      await writeFile(join(devicesDir, 'README.txt'), 'not an identity');
      // A device's error queue and installed images beside its identity are not identities either.
      await writeFile(join(devicesDir, `${ids[0]}.errors.json`), JSON.stringify({ version: 1, droppedTotal: 0, events: [] }));
      await writeFile(join(devicesDir, `${ids[0]}.installed.json`), JSON.stringify({ version: 1, osVersion: '24.10', osImageId: null, images: [] }));
      const signingKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
      const keysFile = join(dir, 'image-trust.pem');
      await writeFile(keysFile, `${signingKey}${signingKey}`);
      // A port where nobody listens: the devices try, back off, and must still stop on request.
      const closed = net.createServer().listen(0, '127.0.0.1');
      await once(closed, 'listening');
      const { port } = closed.address() as net.AddressInfo;
      await new Promise<void>((resolve) => closed.close(() => resolve()));

      let requestStop = (): void => undefined;
      const stopRequested = new Promise<void>((resolve) => (requestStop = resolve));
      const { io, err } = capture(stopRequested);
      const running = main(['run', '--identity', devicesDir, '--broker', `mqtts://localhost:${port}`, '--crash-rate', '2', '--image-trust', keysFile], io);
      const deadline = Date.now() + 5_000;
      while (err.filter((l) => l.includes('state=backoff')).length < 2 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
      }
      requestStop();
      expect(await running).toBe(0);
      expect(err[0]).toMatch(/^running 2 device\(s\) .*, injecting 2 crash\(es\) per device per hour, taking updates signed by 2 trusted key\(s\); Ctrl-C to stop$/);
      for (const id of ids) expect(err.some((l) => l.includes(id.slice(0, 12)) && l.includes('state=connecting'))).toBe(true);
      expect(err.filter((l) => l.includes('state=stopped'))).toHaveLength(2);
      // Logs never carry key material.
      expect(err.join('\n')).not.toMatch(/PRIVATE KEY/);
    });
  });
});

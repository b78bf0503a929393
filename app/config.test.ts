import { readFileSync } from 'node:fs';
import { ConfigError, CONFIG_VARIABLES, loadConfig } from './config.js';

const load = (env: Record<string, string>) => loadConfig(env, '/srv/sg');

describe('configuration from the environment', () => {
  test('zero set-up: every default is usable', () => {
    const c = load({});
    expect(c).toMatchObject({
      dataDir: '/srv/sg/data',
      httpPort: 4000,
      mqttPort: 8883,
      databaseUrl: null,
      adminKey: null,
      hostnames: [],
      logLevel: 'info',
    });
    expect(Object.isFrozen(c)).toBe(true);
  });

  test('values are parsed and typed', () => {
    const c = load({
      SPHEREGATE_DATA_DIR: 'state',
      SPHEREGATE_HTTP_PORT: '0',
      SPHEREGATE_MQTT_PORT: '18883',
      SPHEREGATE_HOSTNAMES: 'sg.example.com, 10.1.2.3',
      DATABASE_URL: 'postgres://root@127.0.0.1:5432/test',
      SPHEREGATE_ADMIN_KEY: 'k'.repeat(40),
    });
    expect(c.dataDir).toBe('/srv/sg/state');
    expect(c.httpPort).toBe(0);
    expect(c.mqttPort).toBe(18883);
    expect(c.hostnames).toEqual(['sg.example.com', '10.1.2.3']);
    expect(c.databaseUrl).toBe('postgres://root@127.0.0.1:5432/test');
  });

  test.each([
    ['SPHEREGATE_HTTP_PORT', 'eighty'],
    ['SPHEREGATE_MQTT_PORT', '70000'],
    ['SPHEREGATE_HOSTNAMES', 'bad host!'],
    ['DATABASE_URL', 'mysql://x@y/z'],
    ['DATABASE_URL', 'not a url'],
    ['SPHEREGATE_ADMIN_KEY', 'short'],
    ['SPHEREGATE_LOG_LEVEL', 'loud'],
    ['SPHEREGATE_SERVER_KEY_FILE', 'key.pem'],
    ['SPHEREGATE_BIND_ADDRESS', 'everywhere'],
    ['SPHEREGATE_DEVICE_CERT_LIFETIME', '0'],
    ['SPHEREGATE_DEVICE_CERT_LIFETIME', '1d'],
    ['SPHEREGATE_ATTESTATION_NONCE_TTL', '7200'],
    ['SPHEREGATE_CA_ACTIVATION_DELAY_DAYS', '90'],
    ['SPHEREGATE_OS_RELEASES', '24.10,bad version'],
  ])('a bad %s (%s) is an error naming the variable', (name, value) => {
    expect(() => load({ [name]: value })).toThrow(ConfigError);
    expect(() => load({ [name]: value })).toThrow(new RegExp(`^${name}: `));
  });

  test('certificate brokering defaults follow Azure Sphere; values are typed', () => {
    expect(load({}).certificates).toEqual({
      deviceCertificateLifetimeSeconds: 86_400,
      nonceTtlSeconds: 60,
      caRotationLeadSeconds: 90 * 86_400,
      caActivationDelaySeconds: 45 * 86_400,
      knownOsReleases: ['24.10'],
    });
    const c = load({ SPHEREGATE_DEVICE_CERT_LIFETIME: '5', SPHEREGATE_ATTESTATION_NONCE_TTL: '2', SPHEREGATE_OS_RELEASES: '24.10, 25.02' });
    expect(c.certificates).toMatchObject({ deviceCertificateLifetimeSeconds: 5, nonceTtlSeconds: 2, knownOsReleases: ['24.10', '25.02'] });
  });

  test('the README documents every variable', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    for (const name of Object.keys(CONFIG_VARIABLES)) expect(readme).toContain(`\`${name}\``);
  });
});

import { ApiKey } from '../../domain/tenancy/api-key.entity.js';
import { VERIFIED_KEY_TTL_MS } from '../../domain/tenancy/verified-keys.js';
import { TEST_DATABASES } from '../db.js';
import { PLATFORM, PLATFORM_KEY, errorCodeOf, newTenant, openDomainFixture, refusalOf, uniqueName, type DomainFixture } from './domain-fixture.js';

describe.each(TEST_DATABASES)('tenants and API keys on %s', (kind) => {
  let fx: DomainFixture;
  beforeAll(async () => {
    fx = await openDomainFixture(kind);
  });
  afterAll(async () => {
    await fx.dispose();
  });

  test('the platform creates a tenant with its own CA and a first Administrator key that authenticates', async () => {
    const name = uniqueName('Contoso');
    const { tenant, adminKey } = await fx.services.tenancy.createTenant(PLATFORM, { name: `  ${name}  ` });
    expect(tenant.name).toBe(name);
    expect(tenant.caCertificatePem).toContain('BEGIN CERTIFICATE');
    expect(fx.pki.tenantCas).toContainEqual({ tenantId: tenant.id, tenantName: name });
    expect(adminKey.apiKey).toMatchObject({ tenantId: tenant.id, role: 'Administrator', revokedAt: null });
    expect(adminKey.secret).toMatch(/^sgk_[0-9a-f]{32}_[A-Za-z0-9_-]{43}$/);
    expect(adminKey.secret.slice(4, 36)).toBe(adminKey.apiKey.id.replace(/-/g, ''));

    const actor = await fx.services.tenancy.authenticate(adminKey.secret);
    expect(actor).toEqual({ kind: 'user', tenantId: tenant.id, role: 'Administrator', apiKeyId: adminKey.apiKey.id });
    expect(await fx.services.tenancy.currentTenant(actor)).toEqual(tenant);
  });

  test('tenant names are unique case-insensitively', async () => {
    const name = uniqueName('Fabrikam');
    await fx.services.tenancy.createTenant(PLATFORM, { name });
    expect(await errorCodeOf(fx.services.tenancy.createTenant(PLATFORM, { name: name.toUpperCase() }))).toBe('CONFLICT');
  });

  test('tenant names must be 1..50 characters after trimming', async () => {
    expect(await errorCodeOf(fx.services.tenancy.createTenant(PLATFORM, { name: '   ' }))).toBe('BAD_USER_INPUT');
    expect(await errorCodeOf(fx.services.tenancy.createTenant(PLATFORM, { name: 'x'.repeat(51) }))).toBe('BAD_USER_INPUT');
  });

  test('tenant and API key names with a NUL or another control character are BAD_USER_INPUT naming the field', async () => {
    const name = uniqueName('Contoso');
    expect(await refusalOf(fx.services.tenancy.createTenant(PLATFORM, { name: `${name}\u0000` }))).toEqual({ code: 'BAD_USER_INPUT', message: 'name: must not contain control characters' });
    // Nothing was stored under that name.
    await expect(fx.services.tenancy.createTenant(PLATFORM, { name })).resolves.toBeDefined();
    const t = await newTenant(fx.services);
    expect(await refusalOf(fx.services.tenancy.createApiKey(t.admin, { name: 'ci\u0000', role: 'Reader' }))).toEqual({ code: 'BAD_USER_INPUT', message: 'name: must not contain control characters' });
    expect(await fx.services.tenancy.listApiKeys(t.admin)).toHaveLength(1);
  });

  test('only the platform may create tenants', async () => {
    const t = await newTenant(fx.services);
    expect(await errorCodeOf(fx.services.tenancy.createTenant(t.admin, { name: uniqueName('X') }))).toBe('FORBIDDEN');
    expect(await errorCodeOf(fx.services.tenancy.createTenant(null, { name: uniqueName('X') }))).toBe('UNAUTHENTICATED');
  });

  test('the platform-admin key authenticates as the platform; near misses do not', async () => {
    expect(await fx.services.tenancy.authenticate(PLATFORM_KEY)).toEqual({ kind: 'platform' });
    expect(await fx.services.tenancy.authenticate(`${PLATFORM_KEY}x`)).toBeNull();
    expect(await fx.services.tenancy.authenticate(PLATFORM_KEY.slice(0, -1))).toBeNull();
    expect(await fx.services.tenancy.authenticate('')).toBeNull();
  });

  test('a malformed, unknown or tampered token authenticates as nobody', async () => {
    const t = await newTenant(fx.services);
    const last = t.adminSecret.at(-1) === 'A' ? 'B' : 'A';
    expect(await fx.services.tenancy.authenticate(`${t.adminSecret.slice(0, -1)}${last}`)).toBeNull();
    expect(await fx.services.tenancy.authenticate(`sgk_${'0'.repeat(32)}_${'A'.repeat(43)}`)).toBeNull();
    expect(await fx.services.tenancy.authenticate('Bearer nonsense')).toBeNull();
  });

  test('a revoked key no longer authenticates', async () => {
    const t = await newTenant(fx.services);
    const issued = await fx.services.tenancy.createApiKey(t.admin, { name: 'CI', role: 'Contributor' });
    expect(await fx.services.tenancy.authenticate(issued.secret)).not.toBeNull();
    fx.clock.advance(1000);
    const revoked = await fx.services.tenancy.revokeApiKey(t.admin, issued.apiKey.id);
    expect(revoked.revokedAt).toEqual(fx.clock.now());
    expect(await fx.services.tenancy.authenticate(issued.secret)).toBeNull();
    // Revoking again is harmless and changes nothing.
    expect(await fx.services.tenancy.revokeApiKey(t.admin, issued.apiKey.id)).toEqual(revoked);
  });

  test('a key revoked on another node is refused here once the verification this node remembers runs out', async () => {
    const t = await newTenant(fx.services);
    const issued = await fx.services.tenancy.createApiKey(t.admin, { name: 'Elsewhere', role: 'Reader' });
    expect(await fx.services.tenancy.authenticate(issued.secret)).not.toBeNull();
    // Another node revokes it: the row changes behind this node's back.
    await fx.db.orm.em.fork().nativeUpdate(ApiKey, { id: issued.apiKey.id }, { revokedAt: fx.clock.now() });
    fx.clock.advance(VERIFIED_KEY_TTL_MS);
    expect(await fx.services.tenancy.authenticate(issued.secret)).toBeNull();
  });

  test('a revocation on this node takes effect for the very next request, however recently the key verified', async () => {
    const t = await newTenant(fx.services);
    const issued = await fx.services.tenancy.createApiKey(t.admin, { name: 'Hot', role: 'Reader' });
    for (let i = 0; i < 3; i++) expect(await fx.services.tenancy.authenticate(issued.secret)).not.toBeNull();
    await fx.services.tenancy.revokeApiKey(t.admin, issued.apiKey.id);
    expect(await fx.services.tenancy.authenticate(issued.secret)).toBeNull();
  });

  test('the last active Administrator key cannot be revoked (the tenant would be stranded)', async () => {
    const t = await newTenant(fx.services);
    const keys = await fx.services.tenancy.listApiKeys(t.admin);
    expect(keys).toHaveLength(1);
    expect(await errorCodeOf(fx.services.tenancy.revokeApiKey(t.admin, keys[0]!.id))).toBe('CONFLICT');
    const second = await fx.services.tenancy.createApiKey(t.admin, { name: 'Second admin', role: 'Administrator' });
    await fx.services.tenancy.revokeApiKey(t.admin, second.apiKey.id);
    expect(await fx.services.tenancy.authenticate(t.adminSecret)).not.toBeNull();
  });

  test('keys are listed per tenant without secrets; another tenant\'s key is not found', async () => {
    const a = await newTenant(fx.services);
    const b = await newTenant(fx.services);
    fx.clock.advance(1000);
    const issued = await fx.services.tenancy.createApiKey(a.admin, { name: 'Reader key', role: 'Reader' });
    const listed = await fx.services.tenancy.listApiKeys(a.admin);
    expect(listed.map((k) => k.name)).toEqual(['Initial administrator key', 'Reader key']);
    expect(JSON.stringify(listed)).not.toContain(issued.secret.slice(37));
    expect((await fx.services.tenancy.listApiKeys(b.admin)).map((k) => k.id)).not.toContain(issued.apiKey.id);
    expect(await errorCodeOf(fx.services.tenancy.revokeApiKey(b.admin, issued.apiKey.id))).toBe('NOT_FOUND');
    expect(await errorCodeOf(fx.services.tenancy.revokeApiKey(b.admin, 'not-a-uuid'))).toBe('BAD_USER_INPUT');
  });

  test('Contributors and Readers cannot manage keys', async () => {
    const t = await newTenant(fx.services);
    for (const role of ['Contributor', 'Reader'] as const) {
      const actor = await t.actorWithRole(role);
      expect(await errorCodeOf(fx.services.tenancy.createApiKey(actor, { name: 'x', role: 'Administrator' }))).toBe('FORBIDDEN');
      expect(await errorCodeOf(fx.services.tenancy.listApiKeys(actor))).toBe('FORBIDDEN');
      expect(await fx.services.tenancy.currentTenant(actor)).toMatchObject({ id: t.tenantId });
    }
  });

  test('an unknown role is refused', async () => {
    const t = await newTenant(fx.services);
    const input = JSON.parse('{"name":"x","role":"Owner"}') as { name: string; role: 'Reader' };
    expect(await errorCodeOf(fx.services.tenancy.createApiKey(t.admin, input))).toBe('BAD_USER_INPUT');
  });
});

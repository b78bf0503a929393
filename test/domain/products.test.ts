import { TEST_DATABASES } from '../db.js';
import { errorCodeOf, newTenant, openDomainFixture, refusalOf, uniqueName, type DomainFixture } from './domain-fixture.js';

describe.each(TEST_DATABASES)('products and device groups on %s', (kind) => {
  let fx: DomainFixture;
  beforeAll(async () => {
    fx = await openDomainFixture(kind);
  });
  afterAll(async () => {
    await fx.dispose();
  });

  test('creating a product also creates the five default device groups', async () => {
    const t = await newTenant(fx.services);
    const product = await fx.services.products.createProduct(t.admin, { name: ' Thermostat ', description: 'Model T' });
    expect(product).toMatchObject({ tenantId: t.tenantId, name: 'Thermostat', description: 'Model T' });
    const groups = await fx.services.products.listDeviceGroups(t.admin, { productId: product.id });
    const settings = [...groups].sort((x, y) => (x.name < y.name ? -1 : 1)).map((g) => [g.name, g.osFeed, g.updatePolicy]);
    expect(settings).toEqual([
      ['Development', 'Retail', 'No3rdPartyAppUpdates'],
      ['Field Test', 'Retail', 'UpdateAll'],
      ['Field Test OS Evaluation', 'RetailEval', 'UpdateAll'],
      ['Production', 'Retail', 'UpdateAll'],
      ['Production OS Evaluation', 'RetailEval', 'UpdateAll'],
    ]);
    for (const g of groups) {
      expect(g).toMatchObject({ tenantId: t.tenantId, productId: product.id });
      expect(g.description.length).toBeGreaterThan(10);
    }
    expect(await fx.services.products.getProduct(t.admin, product.id)).toEqual(product);
  });

  test('product names are unique per tenant, case-insensitively, and free in another tenant', async () => {
    const a = await newTenant(fx.services);
    const b = await newTenant(fx.services);
    await fx.services.products.createProduct(a.admin, { name: 'Sensor' });
    expect(await errorCodeOf(fx.services.products.createProduct(a.admin, { name: 'SENSOR' }))).toBe('CONFLICT');
    await expect(fx.services.products.createProduct(b.admin, { name: 'sensor' })).resolves.toMatchObject({ name: 'sensor' });
    // The refused duplicate left no groups behind.
    expect(await fx.services.products.listDeviceGroups(a.admin, {})).toHaveLength(5);
  });

  test('two concurrent creations of the same product name: exactly one wins', async () => {
    const t = await newTenant(fx.services);
    const outcomes = await Promise.allSettled([
      fx.services.products.createProduct(t.admin, { name: 'Racer' }),
      fx.services.products.createProduct(t.admin, { name: 'racer' }),
    ]);
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
    expect(await fx.services.products.listProducts(t.admin)).toHaveLength(1);
  });

  test('names must be 1..50 characters', async () => {
    const t = await newTenant(fx.services);
    expect(await errorCodeOf(fx.services.products.createProduct(t.admin, { name: '' }))).toBe('BAD_USER_INPUT');
    expect(await errorCodeOf(fx.services.products.createProduct(t.admin, { name: 'p'.repeat(51) }))).toBe('BAD_USER_INPUT');
    await expect(fx.services.products.createProduct(t.admin, { name: 'p'.repeat(50) })).resolves.toBeDefined();
  });

  test('names are one line without control characters; descriptions may hold tabs and newlines but no NUL (no database stores one)', async () => {
    const t = await newTenant(fx.services);
    for (const name of ['Lamp\u0000', 'Lamp\tEU', 'Two\nlines', 'Bell\u0007', 'Del\u007f']) {
      expect(await refusalOf(fx.services.products.createProduct(t.admin, { name }))).toEqual({ code: 'BAD_USER_INPUT', message: 'name: must not contain control characters' });
    }
    expect(await refusalOf(fx.services.products.createProduct(t.admin, { name: 'Lamp', description: 'bright\u0000' }))).toEqual({
      code: 'BAD_USER_INPUT',
      message: 'description: must not contain NUL characters',
    });
    expect(await fx.services.products.listProducts(t.admin)).toEqual([]);
    // Whitespace around a name is trimmed as before, so a pasted trailing newline is no control character.
    const p = await fx.services.products.createProduct(t.admin, { name: 'Lamp\n', description: 'Line 1\n\tLine 2' });
    expect(p).toMatchObject({ name: 'Lamp', description: 'Line 1\n\tLine 2' });

    expect(await refusalOf(fx.services.products.createDeviceGroup(t.admin, { productId: p.id, name: 'Beta', description: '\u0000' }))).toMatchObject({ code: 'BAD_USER_INPUT', message: 'description: must not contain NUL characters' });
    const [g] = await fx.services.products.listDeviceGroups(t.admin, { productId: p.id });
    expect(await refusalOf(fx.services.products.updateDeviceGroup(t.admin, g!.id, { name: 'Pilot\u0000' }))).toMatchObject({ code: 'BAD_USER_INPUT' });
    expect(await refusalOf(fx.services.products.updateDeviceGroup(t.admin, g!.id, { description: 'x\u0000' }))).toMatchObject({ code: 'BAD_USER_INPUT' });
    expect(await fx.services.products.getDeviceGroup(t.admin, g!.id)).toEqual(g);
    expect(await fx.services.products.listDeviceGroups(t.admin, { productId: p.id })).toHaveLength(5);
  });

  test('device group names are unique per product; the same name is fine in another product', async () => {
    const t = await newTenant(fx.services);
    const p1 = await fx.services.products.createProduct(t.admin, { name: 'P1' });
    const p2 = await fx.services.products.createProduct(t.admin, { name: 'P2' });
    const beta = await fx.services.products.createDeviceGroup(t.admin, { productId: p1.id, name: 'Beta', osFeed: 'RetailEval' });
    expect(beta).toMatchObject({ name: 'Beta', osFeed: 'RetailEval', updatePolicy: 'UpdateAll', description: '' });
    expect(await errorCodeOf(fx.services.products.createDeviceGroup(t.admin, { productId: p1.id, name: 'beta' }))).toBe('CONFLICT');
    expect(await errorCodeOf(fx.services.products.createDeviceGroup(t.admin, { productId: p1.id, name: 'production' }))).toBe('CONFLICT');
    await expect(fx.services.products.createDeviceGroup(t.admin, { productId: p2.id, name: 'Beta' })).resolves.toBeDefined();
  });

  test('a device group can be renamed and reconfigured; renaming onto a sibling conflicts', async () => {
    const t = await newTenant(fx.services);
    const p = await fx.services.products.createProduct(t.admin, { name: 'Lamp' });
    const g = await fx.services.products.createDeviceGroup(t.admin, { productId: p.id, name: 'Pilot' });
    const updated = await fx.services.products.updateDeviceGroup(t.admin, g.id, {
      name: 'Pilot EU',
      description: 'Early adopters',
      updatePolicy: 'No3rdPartyAppUpdates',
    });
    expect(updated).toMatchObject({ id: g.id, name: 'Pilot EU', description: 'Early adopters', osFeed: 'Retail', updatePolicy: 'No3rdPartyAppUpdates' });
    expect(await fx.services.products.getDeviceGroup(t.admin, g.id)).toEqual(updated);
    // Changing only the case of its own name is not a conflict.
    await expect(fx.services.products.updateDeviceGroup(t.admin, g.id, { name: 'PILOT EU' })).resolves.toMatchObject({ name: 'PILOT EU' });
    expect(await errorCodeOf(fx.services.products.updateDeviceGroup(t.admin, g.id, { name: 'Field Test' }))).toBe('CONFLICT');
    const bad = JSON.parse('{"osFeed":"Nightly"}') as { osFeed: 'Retail' };
    expect(await errorCodeOf(fx.services.products.updateDeviceGroup(t.admin, g.id, bad))).toBe('BAD_USER_INPUT');
  });

  test("another tenant's product and groups are NOT_FOUND, for reads and writes alike", async () => {
    const a = await newTenant(fx.services);
    const b = await newTenant(fx.services);
    const p = await fx.services.products.createProduct(a.admin, { name: uniqueName('Secret') });
    const [g] = await fx.services.products.listDeviceGroups(a.admin, { productId: p.id });
    expect(await errorCodeOf(fx.services.products.getProduct(b.admin, p.id))).toBe('NOT_FOUND');
    expect(await errorCodeOf(fx.services.products.getDeviceGroup(b.admin, g!.id))).toBe('NOT_FOUND');
    expect(await errorCodeOf(fx.services.products.listDeviceGroups(b.admin, { productId: p.id }))).toBe('NOT_FOUND');
    expect(await errorCodeOf(fx.services.products.createDeviceGroup(b.admin, { productId: p.id, name: 'Mine' }))).toBe('NOT_FOUND');
    expect(await errorCodeOf(fx.services.products.updateDeviceGroup(b.admin, g!.id, { name: 'Mine' }))).toBe('NOT_FOUND');
    expect(await fx.services.products.listProducts(b.admin)).toEqual([]);
    expect(await errorCodeOf(fx.services.products.getProduct(b.admin, 'nope'))).toBe('BAD_USER_INPUT');
  });

  test('a Reader reads products but cannot create or change them', async () => {
    const t = await newTenant(fx.services);
    const p = await fx.services.products.createProduct(t.admin, { name: 'Kettle' });
    const reader = await t.actorWithRole('Reader');
    expect(await errorCodeOf(fx.services.products.createProduct(reader, { name: 'Toaster' }))).toBe('FORBIDDEN');
    expect(await errorCodeOf(fx.services.products.createDeviceGroup(reader, { productId: p.id, name: 'X' }))).toBe('FORBIDDEN');
    expect((await fx.services.products.listProducts(reader)).map((x) => x.id)).toEqual([p.id]);
    const contributor = await t.actorWithRole('Contributor');
    await expect(fx.services.products.createProduct(contributor, { name: 'Toaster' })).resolves.toBeDefined();
  });
});

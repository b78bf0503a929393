import { Migration } from '@mikro-orm/migrations';

/**
 * Written by hand: the SQLite migration of the same name drops error_report's single-column tenant_id and device_id
 * indexes, which PostgreSQL never had (MikroORM indexes foreign keys on SQLite only). Nothing to do here; it exists so
 * both drivers keep the same migrations in the same order. Do not edit once released.
 */
export class Migration20261203074328_error_report_redundant_indexes extends Migration {
  override up(): void {
    // Nothing: see above.
  }

  override down(): void {
    // Nothing: see above.
  }
}

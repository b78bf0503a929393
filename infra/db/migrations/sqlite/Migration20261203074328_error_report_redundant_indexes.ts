import { Migration } from '@mikro-orm/migrations';

/** Generated for sqlite by infra/db/generate-migration.ts from the entity metadata. Do not edit once released. */
export class Migration20261203074328_error_report_redundant_indexes extends Migration {
  override up(): void {
    this.addSql('drop index `error_report_device_id_index`;');
    this.addSql('drop index `error_report_tenant_id_index`;');
  }

  override down(): void {
    // MikroORM derives no down migration for sqlite here: restore a backup to go back.
  }
}

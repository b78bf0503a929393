import { Migration } from '@mikro-orm/migrations';

/** Generated for sqlite by infra/db/generate-migration.ts from the entity metadata. Do not edit once released. */
export class Migration20261122090640_initial_schema extends Migration {
  override up(): void {
    this.addSql('create table `tenant` (`id` text not null, `name` text not null, `name_key` text not null, `ca_certificate_pem` text not null, `ca_serial_number` text not null, `created_at` datetime not null, primary key (`id`));');
    this.addSql('create unique index `tenant_name_key_unique` on `tenant` (`name_key`);');
    this.addSql('create table `product` (`id` text not null, `tenant_id` text not null, `name` text not null, `name_key` text not null, `description` text not null, `created_at` datetime not null, constraint `product_tenant_id_foreign` foreign key(`tenant_id`) references `tenant`(`id`) on update cascade, primary key (`id`));');
    this.addSql('create index `product_tenant_id_index` on `product` (`tenant_id`);');
    this.addSql('create unique index `product_tenant_id_name_key_unique` on `product` (`tenant_id`, `name_key`);');
    this.addSql('create table `device_group` (`id` text not null, `tenant_id` text not null, `product_id` text not null, `name` text not null, `name_key` text not null, `description` text not null, `os_feed` text not null, `update_policy` text not null, `created_at` datetime not null, constraint `device_group_tenant_id_foreign` foreign key(`tenant_id`) references `tenant`(`id`) on update cascade, constraint `device_group_product_id_foreign` foreign key(`product_id`) references `product`(`id`) on update cascade, primary key (`id`));');
    this.addSql('create index `device_group_tenant_id_index` on `device_group` (`tenant_id`);');
    this.addSql('create index `device_group_product_id_index` on `device_group` (`product_id`);');
    this.addSql('create index `device_group_tenant_id_product_id_index` on `device_group` (`tenant_id`, `product_id`);');
    this.addSql('create unique index `device_group_product_id_name_key_unique` on `device_group` (`product_id`, `name_key`);');
    this.addSql('create table `device` (`id` text not null, `public_key_hex` text not null, `certificate_pem` text not null, `certificate_serial_number` text not null, `certificate_not_before` datetime not null, `certificate_not_after` datetime not null, `certificate_subject` text not null, `certificate_issuer` text not null, `certificate_sha256` text not null, `manufactured_at` datetime not null, `tenant_id` text null, `claimed_at` datetime null, `product_id` text null, `device_group_id` text null, `revoked_at` datetime null, `online` integer not null default false, `last_seen_at` datetime null, `connected_since` datetime null, `connection_seq` integer not null default 0, `broker_node_id` text null, `remote_address` text null, `os_version` text null, `uptime_seconds` integer null, `installed_images` json null, `status_reported_at` datetime null, constraint `device_tenant_id_foreign` foreign key(`tenant_id`) references `tenant`(`id`) on delete set null on update cascade, constraint `device_product_id_foreign` foreign key(`product_id`) references `product`(`id`) on delete set null on update cascade, constraint `device_device_group_id_foreign` foreign key(`device_group_id`) references `device_group`(`id`) on delete set null on update cascade, primary key (`id`));');
    this.addSql('create index `device_tenant_id_index` on `device` (`tenant_id`);');
    this.addSql('create index `device_product_id_index` on `device` (`product_id`);');
    this.addSql('create index `device_device_group_id_index` on `device` (`device_group_id`);');
    this.addSql('create index `device_tenant_id_id_index` on `device` (`tenant_id`, `id`);');
    this.addSql('create index `device_tenant_id_product_id_id_index` on `device` (`tenant_id`, `product_id`, `id`);');
    this.addSql('create index `device_tenant_id_device_group_id_id_index` on `device` (`tenant_id`, `device_group_id`, `id`);');
    this.addSql('create index `device_tenant_id_online_id_index` on `device` (`tenant_id`, `online`, `id`);');
    this.addSql('create index `device_broker_node_id_online_index` on `device` (`broker_node_id`, `online`);');
    this.addSql('create table `api_key` (`id` text not null, `tenant_id` text not null, `name` text not null, `role` text not null, `secret_hash` text not null, `created_at` datetime not null, `revoked_at` datetime null, constraint `api_key_tenant_id_foreign` foreign key(`tenant_id`) references `tenant`(`id`) on update cascade, primary key (`id`));');
    this.addSql('create index `api_key_tenant_id_index` on `api_key` (`tenant_id`);');
    this.addSql('create index `api_key_tenant_id_created_at_index` on `api_key` (`tenant_id`, `created_at`);');
  }

  override down(): void {
    // MikroORM derives no down migration for sqlite here: restore a backup to go back.
  }
}

import { Migration } from '@mikro-orm/migrations';

/** Generated for sqlite by infra/db/generate-migration.ts from the entity metadata. Do not edit once released. */
export class Migration20261122150244_certificate_brokering extends Migration {
  override up(): void {
    this.addSql('create table `os_release` (`version` text not null, `registered_at` datetime not null, primary key (`version`));');
    this.addSql('create table `device_certificate` (`serial_number` text not null, `device_id` text not null, `tenant_id` text not null, `issuer_ca_serial_number` text not null, `sha256thumbprint` text not null, `not_before` datetime not null, `not_after` datetime not null, `issued_at` datetime not null, `renewal` integer not null, `status` text not null, `revoked_at` datetime null, constraint `device_certificate_device_id_foreign` foreign key(`device_id`) references `device`(`id`) on update cascade, constraint `device_certificate_tenant_id_foreign` foreign key(`tenant_id`) references `tenant`(`id`) on update cascade, primary key (`serial_number`));');
    this.addSql('create index `device_certificate_device_id_index` on `device_certificate` (`device_id`);');
    this.addSql('create index `device_certificate_tenant_id_index` on `device_certificate` (`tenant_id`);');
    this.addSql('create unique index `device_certificate_sha256thumbprint_unique` on `device_certificate` (`sha256thumbprint`);');
    this.addSql('create index `device_certificate_device_id_status_index` on `device_certificate` (`device_id`, `status`);');
    this.addSql('create index `device_certificate_issuer_ca_serial_number_status_index` on `device_certificate` (`issuer_ca_serial_number`, `status`);');
    this.addSql('create table `attestation_nonce` (`nonce` text not null, `device_id` text not null, `issued_at` datetime not null, `expires_at` datetime not null, `used_at` datetime null, constraint `attestation_nonce_device_id_foreign` foreign key(`device_id`) references `device`(`id`) on update cascade, primary key (`nonce`));');
    this.addSql('create index `attestation_nonce_device_id_index` on `attestation_nonce` (`device_id`);');
    this.addSql('create index `attestation_nonce_device_id_expires_at_index` on `attestation_nonce` (`device_id`, `expires_at`);');
    this.addSql('create table `allowed_image` (`id` text not null, `tenant_id` text not null, `component_id` text not null, `image_id` text not null, `sha256` text not null, `created_at` datetime not null, constraint `allowed_image_tenant_id_foreign` foreign key(`tenant_id`) references `tenant`(`id`) on update cascade, primary key (`id`));');
    this.addSql('create index `allowed_image_tenant_id_index` on `allowed_image` (`tenant_id`);');
    this.addSql('create unique index `allowed_image_tenant_id_image_id_sha256_unique` on `allowed_image` (`tenant_id`, `image_id`, `sha256`);');
    this.addSql('create table `tenant_ca` (`serial_number` text not null, `tenant_id` text not null, `certificate_pem` text not null, `subject` text not null, `not_before` datetime not null, `not_after` datetime not null, `sha1thumbprint` text not null, `sha256thumbprint` text not null, `active_from` datetime not null, `successor_of` text null, `created_at` datetime not null, `crl_number` integer not null default 0, `crl_pem` text null, `crl_next_update` datetime null, constraint `tenant_ca_tenant_id_foreign` foreign key(`tenant_id`) references `tenant`(`id`) on update cascade, primary key (`serial_number`));');
    this.addSql('create index `tenant_ca_tenant_id_index` on `tenant_ca` (`tenant_id`);');
    this.addSql('create unique index `tenant_ca_successor_of_unique` on `tenant_ca` (`successor_of`);');
    this.addSql('create index `tenant_ca_tenant_id_active_from_index` on `tenant_ca` (`tenant_id`, `active_from`);');
    this.addSql('alter table `device` add column `revocation_reason` text null;');
    this.addSql('alter table `device` add column `tenant_certificate_serial_number` text null;');
    this.addSql('alter table `device` add column `tenant_certificate_not_before` datetime null;');
    this.addSql('alter table `device` add column `tenant_certificate_not_after` datetime null;');
    this.addSql('alter table `device` add column `tenant_certificate_renew_after` datetime null;');
    this.addSql('alter table `device` add column `last_attestation_at` datetime null;');
    this.addSql('alter table `device` add column `last_attestation_result` text null;');
    this.addSql('alter table `device` add column `last_attestation_reason` text null;');
  }

  override down(): void {
    // MikroORM derives no down migration for sqlite here: restore a backup to go back.
  }
}

import { Migration } from '@mikro-orm/migrations';

/** Generated for postgresql by infra/db/generate-migration.ts from the entity metadata. Do not edit once released. */
export class Migration20261122150244_certificate_brokering extends Migration {
  override up(): void {
    this.addSql('create table "os_release" ("version" varchar(64) not null, "registered_at" timestamptz not null, constraint "os_release_pkey" primary key ("version"));');
    this.addSql('create table "device_certificate" ("serial_number" varchar(64) not null, "device_id" varchar(128) not null, "tenant_id" uuid not null, "issuer_ca_serial_number" varchar(64) not null, "sha256thumbprint" varchar(64) not null, "not_before" timestamptz not null, "not_after" timestamptz not null, "issued_at" timestamptz not null, "renewal" boolean not null, "status" varchar(16) not null, "revoked_at" timestamptz null, constraint "device_certificate_pkey" primary key ("serial_number"));');
    this.addSql('alter table "device_certificate" add constraint "device_certificate_sha256thumbprint_unique" unique ("sha256thumbprint");');
    this.addSql('create index "device_certificate_device_id_status_index" on "device_certificate" ("device_id", "status");');
    this.addSql('create index "device_certificate_issuer_ca_serial_number_status_index" on "device_certificate" ("issuer_ca_serial_number", "status");');
    this.addSql('create table "attestation_nonce" ("nonce" varchar(43) not null, "device_id" varchar(128) not null, "issued_at" timestamptz not null, "expires_at" timestamptz not null, "used_at" timestamptz null, constraint "attestation_nonce_pkey" primary key ("nonce"));');
    this.addSql('create index "attestation_nonce_device_id_expires_at_index" on "attestation_nonce" ("device_id", "expires_at");');
    this.addSql('create table "allowed_image" ("id" uuid not null, "tenant_id" uuid not null, "component_id" uuid not null, "image_id" uuid not null, "sha256" varchar(64) not null, "created_at" timestamptz not null, constraint "allowed_image_pkey" primary key ("id"));');
    this.addSql('alter table "allowed_image" add constraint "allowed_image_tenant_id_image_id_sha256_unique" unique ("tenant_id", "image_id", "sha256");');
    this.addSql('create table "tenant_ca" ("serial_number" varchar(64) not null, "tenant_id" uuid not null, "certificate_pem" text not null, "subject" varchar(500) not null, "not_before" timestamptz not null, "not_after" timestamptz not null, "sha1thumbprint" varchar(40) not null, "sha256thumbprint" varchar(64) not null, "active_from" timestamptz not null, "successor_of" varchar(64) null, "created_at" timestamptz not null, "crl_number" int not null default 0, "crl_pem" text null, "crl_next_update" timestamptz null, constraint "tenant_ca_pkey" primary key ("serial_number"));');
    this.addSql('alter table "tenant_ca" add constraint "tenant_ca_successor_of_unique" unique ("successor_of");');
    this.addSql('create index "tenant_ca_tenant_id_active_from_index" on "tenant_ca" ("tenant_id", "active_from");');
    this.addSql('alter table "device_certificate" add constraint "device_certificate_device_id_foreign" foreign key ("device_id") references "device" ("id") on update cascade;');
    this.addSql('alter table "device_certificate" add constraint "device_certificate_tenant_id_foreign" foreign key ("tenant_id") references "tenant" ("id") on update cascade;');
    this.addSql('alter table "attestation_nonce" add constraint "attestation_nonce_device_id_foreign" foreign key ("device_id") references "device" ("id") on update cascade;');
    this.addSql('alter table "allowed_image" add constraint "allowed_image_tenant_id_foreign" foreign key ("tenant_id") references "tenant" ("id") on update cascade;');
    this.addSql('alter table "tenant_ca" add constraint "tenant_ca_tenant_id_foreign" foreign key ("tenant_id") references "tenant" ("id") on update cascade;');
    this.addSql('alter table "device" add column "revocation_reason" varchar(500) null, add column "tenant_certificate_serial_number" varchar(64) null, add column "tenant_certificate_not_before" timestamptz null, add column "tenant_certificate_not_after" timestamptz null, add column "tenant_certificate_renew_after" timestamptz null, add column "last_attestation_at" timestamptz null, add column "last_attestation_result" varchar(16) null, add column "last_attestation_reason" varchar(500) null;');
  }

  override down(): void {
    this.addSql('drop table if exists "os_release" cascade;');
    this.addSql('drop table if exists "device_certificate" cascade;');
    this.addSql('drop table if exists "attestation_nonce" cascade;');
    this.addSql('drop table if exists "allowed_image" cascade;');
    this.addSql('drop table if exists "tenant_ca" cascade;');
    this.addSql('alter table "device" drop column "revocation_reason", drop column "tenant_certificate_serial_number", drop column "tenant_certificate_not_before", drop column "tenant_certificate_not_after", drop column "tenant_certificate_renew_after", drop column "last_attestation_at", drop column "last_attestation_result", drop column "last_attestation_reason";');
  }
}

import { Migration } from '@mikro-orm/migrations';

/** Generated for postgresql by infra/db/generate-migration.ts from the entity metadata. Do not edit once released. */
export class Migration20261122090640_initial_schema extends Migration {
  override up(): void {
    this.addSql('create table "tenant" ("id" uuid not null, "name" varchar(50) not null, "name_key" varchar(50) not null, "ca_certificate_pem" text not null, "ca_serial_number" varchar(64) not null, "created_at" timestamptz not null, constraint "tenant_pkey" primary key ("id"));');
    this.addSql('alter table "tenant" add constraint "tenant_name_key_unique" unique ("name_key");');
    this.addSql('create table "product" ("id" uuid not null, "tenant_id" uuid not null, "name" varchar(50) not null, "name_key" varchar(50) not null, "description" varchar(500) not null, "created_at" timestamptz not null, constraint "product_pkey" primary key ("id"));');
    this.addSql('alter table "product" add constraint "product_tenant_id_name_key_unique" unique ("tenant_id", "name_key");');
    this.addSql('create table "device_group" ("id" uuid not null, "tenant_id" uuid not null, "product_id" uuid not null, "name" varchar(50) not null, "name_key" varchar(50) not null, "description" varchar(500) not null, "os_feed" varchar(20) not null, "update_policy" varchar(30) not null, "created_at" timestamptz not null, constraint "device_group_pkey" primary key ("id"));');
    this.addSql('create index "device_group_tenant_id_product_id_index" on "device_group" ("tenant_id", "product_id");');
    this.addSql('alter table "device_group" add constraint "device_group_product_id_name_key_unique" unique ("product_id", "name_key");');
    this.addSql('create table "device" ("id" varchar(128) not null, "public_key_hex" varchar(130) not null, "certificate_pem" text not null, "certificate_serial_number" varchar(64) not null, "certificate_not_before" timestamptz not null, "certificate_not_after" timestamptz not null, "certificate_subject" varchar(500) not null, "certificate_issuer" varchar(500) not null, "certificate_sha256" varchar(64) not null, "manufactured_at" timestamptz not null, "tenant_id" uuid null, "claimed_at" timestamptz null, "product_id" uuid null, "device_group_id" uuid null, "revoked_at" timestamptz null, "online" boolean not null default false, "last_seen_at" timestamptz null, "connected_since" timestamptz null, "connection_seq" int not null default 0, "broker_node_id" varchar(100) null, "remote_address" varchar(100) null, "os_version" varchar(64) null, "uptime_seconds" int null, "installed_images" jsonb null, "status_reported_at" timestamptz null, constraint "device_pkey" primary key ("id"));');
    this.addSql('create index "device_tenant_id_id_index" on "device" ("tenant_id", "id");');
    this.addSql('create index "device_tenant_id_product_id_id_index" on "device" ("tenant_id", "product_id", "id");');
    this.addSql('create index "device_tenant_id_device_group_id_id_index" on "device" ("tenant_id", "device_group_id", "id");');
    this.addSql('create index "device_tenant_id_online_id_index" on "device" ("tenant_id", "online", "id");');
    this.addSql('create index "device_broker_node_id_online_index" on "device" ("broker_node_id", "online");');
    this.addSql('create table "api_key" ("id" uuid not null, "tenant_id" uuid not null, "name" varchar(50) not null, "role" varchar(20) not null, "secret_hash" varchar(64) not null, "created_at" timestamptz not null, "revoked_at" timestamptz null, constraint "api_key_pkey" primary key ("id"));');
    this.addSql('create index "api_key_tenant_id_created_at_index" on "api_key" ("tenant_id", "created_at");');
    this.addSql('alter table "product" add constraint "product_tenant_id_foreign" foreign key ("tenant_id") references "tenant" ("id") on update cascade;');
    this.addSql('alter table "device_group" add constraint "device_group_tenant_id_foreign" foreign key ("tenant_id") references "tenant" ("id") on update cascade;');
    this.addSql('alter table "device_group" add constraint "device_group_product_id_foreign" foreign key ("product_id") references "product" ("id") on update cascade;');
    this.addSql('alter table "device" add constraint "device_tenant_id_foreign" foreign key ("tenant_id") references "tenant" ("id") on update cascade on delete set null;');
    this.addSql('alter table "device" add constraint "device_product_id_foreign" foreign key ("product_id") references "product" ("id") on update cascade on delete set null;');
    this.addSql('alter table "device" add constraint "device_device_group_id_foreign" foreign key ("device_group_id") references "device_group" ("id") on update cascade on delete set null;');
    this.addSql('alter table "api_key" add constraint "api_key_tenant_id_foreign" foreign key ("tenant_id") references "tenant" ("id") on update cascade;');
  }

  override down(): void {
    this.addSql('alter table "product" drop constraint "product_tenant_id_foreign";');
    this.addSql('alter table "device_group" drop constraint "device_group_tenant_id_foreign";');
    this.addSql('alter table "device" drop constraint "device_tenant_id_foreign";');
    this.addSql('alter table "api_key" drop constraint "api_key_tenant_id_foreign";');
    this.addSql('alter table "device_group" drop constraint "device_group_product_id_foreign";');
    this.addSql('alter table "device" drop constraint "device_product_id_foreign";');
    this.addSql('alter table "device" drop constraint "device_device_group_id_foreign";');
    this.addSql('drop table if exists "tenant" cascade;');
    this.addSql('drop table if exists "product" cascade;');
    this.addSql('drop table if exists "device_group" cascade;');
    this.addSql('drop table if exists "device" cascade;');
    this.addSql('drop table if exists "api_key" cascade;');
  }
}

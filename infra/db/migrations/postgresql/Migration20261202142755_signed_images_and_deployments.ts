import { Migration } from '@mikro-orm/migrations';

/** Generated for postgresql by infra/db/generate-migration.ts from the entity metadata. Do not edit once released. */
export class Migration20261202142755_signed_images_and_deployments extends Migration {
  override up(): void {
    this.addSql('create table "signing_key" ("id" uuid not null, "tenant_id" uuid null, "name" varchar(100) not null, "public_key_pem" text not null, "fingerprint" varchar(64) not null, "created_at" timestamptz not null, constraint "signing_key_pkey" primary key ("id"));');
    this.addSql('create index "signing_key_tenant_id_index" on "signing_key" ("tenant_id");');
    this.addSql('create table "image" ("id" uuid not null, "tenant_id" uuid null, "component_id" uuid not null, "name" varchar(100) not null, "version" varchar(64) not null, "type" varchar(16) not null, "sha256" varchar(64) not null, "size" int not null, "signature" varchar(100) not null, "signing_key_id" uuid not null, "status" varchar(16) not null, "created_at" timestamptz not null, "uploaded_at" timestamptz null, constraint "image_pkey" primary key ("id"));');
    this.addSql('create index "image_tenant_id_component_id_sha256_index" on "image" ("tenant_id", "component_id", "sha256");');
    this.addSql('create index "image_tenant_id_created_at_index" on "image" ("tenant_id", "created_at");');
    this.addSql('create table "os_feed_release" ("id" uuid not null, "feed" varchar(20) not null, "image_id" uuid not null, "version" varchar(64) not null, "published_at" timestamptz not null, constraint "os_feed_release_pkey" primary key ("id"));');
    this.addSql('create index "os_feed_release_feed_published_at_index" on "os_feed_release" ("feed", "published_at");');
    this.addSql('alter table "os_feed_release" add constraint "os_feed_release_feed_image_id_unique" unique ("feed", "image_id");');
    this.addSql('create table "deployment" ("id" uuid not null, "tenant_id" uuid not null, "device_group_id" uuid not null, "image_ids" jsonb not null, "state" varchar(16) not null, "reason" varchar(500) null, "rollout" jsonb null, "baseline" jsonb null, "wave" int not null default 0, "created_at" timestamptz not null, "ended_at" timestamptz null, constraint "deployment_pkey" primary key ("id"));');
    this.addSql('create index "deployment_tenant_id_device_group_id_created_at_index" on "deployment" ("tenant_id", "device_group_id", "created_at");');
    this.addSql('create index "deployment_state_index" on "deployment" ("state");');
    this.addSql('create table "deployment_device" ("id" uuid not null, "deployment_id" uuid not null, "device_id" varchar(128) not null, "admitted" boolean not null, "wave" int null, "admitted_at" timestamptz null, "state" varchar(16) not null, "reason" varchar(200) null, "image_states" jsonb not null, "updated_at" timestamptz not null, constraint "deployment_device_pkey" primary key ("id"));');
    this.addSql('create index "deployment_device_deployment_id_admitted_state_index" on "deployment_device" ("deployment_id", "admitted", "state");');
    this.addSql('create index "deployment_device_device_id_index" on "deployment_device" ("device_id");');
    this.addSql('alter table "deployment_device" add constraint "deployment_device_deployment_id_device_id_unique" unique ("deployment_id", "device_id");');
    this.addSql('alter table "signing_key" add constraint "signing_key_tenant_id_foreign" foreign key ("tenant_id") references "tenant" ("id") on update cascade on delete set null;');
    this.addSql('alter table "image" add constraint "image_tenant_id_foreign" foreign key ("tenant_id") references "tenant" ("id") on update cascade on delete set null;');
    this.addSql('alter table "image" add constraint "image_signing_key_id_foreign" foreign key ("signing_key_id") references "signing_key" ("id") on update cascade;');
    this.addSql('alter table "os_feed_release" add constraint "os_feed_release_image_id_foreign" foreign key ("image_id") references "image" ("id") on update cascade;');
    this.addSql('alter table "deployment" add constraint "deployment_tenant_id_foreign" foreign key ("tenant_id") references "tenant" ("id") on update cascade;');
    this.addSql('alter table "deployment" add constraint "deployment_device_group_id_foreign" foreign key ("device_group_id") references "device_group" ("id") on update cascade;');
    this.addSql('alter table "deployment_device" add constraint "deployment_device_deployment_id_foreign" foreign key ("deployment_id") references "deployment" ("id") on update cascade;');
    this.addSql('alter table "deployment_device" add constraint "deployment_device_device_id_foreign" foreign key ("device_id") references "device" ("id") on update cascade;');
    this.addSql('alter table "error_issue" add column "deployment_id" uuid null;');
  }

  override down(): void {
    this.addSql('alter table "image" drop constraint "image_signing_key_id_foreign";');
    this.addSql('alter table "os_feed_release" drop constraint "os_feed_release_image_id_foreign";');
    this.addSql('alter table "deployment_device" drop constraint "deployment_device_deployment_id_foreign";');
    this.addSql('drop table if exists "signing_key" cascade;');
    this.addSql('drop table if exists "image" cascade;');
    this.addSql('drop table if exists "os_feed_release" cascade;');
    this.addSql('drop table if exists "deployment" cascade;');
    this.addSql('drop table if exists "deployment_device" cascade;');
    this.addSql('alter table "error_issue" drop column "deployment_id";');
  }
}

import { Migration } from '@mikro-orm/migrations';

/** Generated for postgresql by infra/db/generate-migration.ts from the entity metadata. Do not edit once released. */
export class Migration20261202140245_error_reports extends Migration {
  override up(): void {
    this.addSql('create table "job_lease" ("name" varchar(100) not null, "holder" varchar(100) not null, "leased_until" timestamptz not null, constraint "job_lease_pkey" primary key ("name"));');
    this.addSql('create table "error_issue" ("id" uuid not null, "tenant_id" uuid not null, "signature" varchar(64) not null, "category" varchar(16) not null, "event_class" varchar(16) not null, "component_id" uuid null, "image_id" uuid null, "exit_code" int null, "signal" int null, "first_seen" timestamptz not null, "last_seen" timestamptz not null, "event_count" int not null, "device_count" int not null, "opened_at" timestamptz not null, constraint "error_issue_pkey" primary key ("id"));');
    this.addSql('create index "error_issue_tenant_id_last_seen_index" on "error_issue" ("tenant_id", "last_seen");');
    this.addSql('create index "error_issue_tenant_id_device_count_index" on "error_issue" ("tenant_id", "device_count");');
    this.addSql('alter table "error_issue" add constraint "error_issue_tenant_id_signature_unique" unique ("tenant_id", "signature");');
    this.addSql('create table "error_report_drop" ("id" uuid not null, "tenant_id" uuid not null, "device_id" varchar(128) not null, "hour_bucket" int not null, "reason" varchar(32) not null, "dropped" int not null, "updated_at" timestamptz not null, constraint "error_report_drop_pkey" primary key ("id"));');
    this.addSql('create index "error_report_drop_tenant_id_hour_bucket_index" on "error_report_drop" ("tenant_id", "hour_bucket");');
    this.addSql('create index "error_report_drop_updated_at_index" on "error_report_drop" ("updated_at");');
    this.addSql('alter table "error_report_drop" add constraint "error_report_drop_device_id_hour_bucket_reason_unique" unique ("device_id", "hour_bucket", "reason");');
    this.addSql('create table "error_report" ("id" uuid not null, "tenant_id" uuid not null, "device_id" varchar(128) not null, "event_id" uuid not null, "event_type" varchar(16) not null, "event_class" varchar(16) not null, "category" varchar(16) not null, "count" int not null, "description" varchar(300) not null, "exit_code" int null, "signal" int null, "component_id" uuid null, "image_id" uuid null, "start_time" timestamptz not null, "end_time" timestamptz not null, "hour_bucket" int not null, "received_at" timestamptz not null, "product_id" uuid null, "device_group_id" uuid null, "issue_id" uuid null, constraint "error_report_pkey" primary key ("id"));');
    this.addSql('create index "error_report_tenant_id_start_time_id_index" on "error_report" ("tenant_id", "start_time", "id");');
    this.addSql('create index "error_report_device_id_received_at_index" on "error_report" ("device_id", "received_at");');
    this.addSql('create index "error_report_end_time_index" on "error_report" ("end_time");');
    this.addSql('create index "error_report_issue_id_index" on "error_report" ("issue_id");');
    this.addSql('alter table "error_report" add constraint "error_report_device_id_event_id_unique" unique ("device_id", "event_id");');
    this.addSql('create table "error_issue_device" ("id" uuid not null, "issue_id" uuid not null, "device_id" varchar(128) not null, constraint "error_issue_device_pkey" primary key ("id"));');
    this.addSql('alter table "error_issue_device" add constraint "error_issue_device_issue_id_device_id_unique" unique ("issue_id", "device_id");');
    this.addSql('alter table "error_issue" add constraint "error_issue_tenant_id_foreign" foreign key ("tenant_id") references "tenant" ("id") on update cascade;');
    this.addSql('alter table "error_report_drop" add constraint "error_report_drop_tenant_id_foreign" foreign key ("tenant_id") references "tenant" ("id") on update cascade;');
    this.addSql('alter table "error_report_drop" add constraint "error_report_drop_device_id_foreign" foreign key ("device_id") references "device" ("id") on update cascade;');
    this.addSql('alter table "error_report" add constraint "error_report_tenant_id_foreign" foreign key ("tenant_id") references "tenant" ("id") on update cascade;');
    this.addSql('alter table "error_report" add constraint "error_report_device_id_foreign" foreign key ("device_id") references "device" ("id") on update cascade;');
    this.addSql('alter table "error_report" add constraint "error_report_product_id_foreign" foreign key ("product_id") references "product" ("id") on update cascade on delete set null;');
    this.addSql('alter table "error_report" add constraint "error_report_device_group_id_foreign" foreign key ("device_group_id") references "device_group" ("id") on update cascade on delete set null;');
    this.addSql('alter table "error_report" add constraint "error_report_issue_id_foreign" foreign key ("issue_id") references "error_issue" ("id") on update cascade on delete set null;');
    this.addSql('alter table "error_issue_device" add constraint "error_issue_device_issue_id_foreign" foreign key ("issue_id") references "error_issue" ("id") on update cascade on delete cascade;');
    this.addSql('alter table "error_issue_device" add constraint "error_issue_device_device_id_foreign" foreign key ("device_id") references "device" ("id") on update cascade;');
    this.addSql('alter table "device" add column "error_events_dropped_total" int not null default 0;');
  }

  override down(): void {
    this.addSql('alter table "error_report" drop constraint "error_report_issue_id_foreign";');
    this.addSql('alter table "error_issue_device" drop constraint "error_issue_device_issue_id_foreign";');
    this.addSql('drop table if exists "job_lease" cascade;');
    this.addSql('drop table if exists "error_issue" cascade;');
    this.addSql('drop table if exists "error_report_drop" cascade;');
    this.addSql('drop table if exists "error_report" cascade;');
    this.addSql('drop table if exists "error_issue_device" cascade;');
    this.addSql('alter table "device" drop column "error_events_dropped_total";');
  }
}

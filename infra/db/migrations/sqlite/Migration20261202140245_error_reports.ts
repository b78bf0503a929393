import { Migration } from '@mikro-orm/migrations';

/** Generated for sqlite by infra/db/generate-migration.ts from the entity metadata. Do not edit once released. */
export class Migration20261202140245_error_reports extends Migration {
  override up(): void {
    this.addSql('create table `job_lease` (`name` text not null, `holder` text not null, `leased_until` datetime not null, primary key (`name`));');
    this.addSql('create table `error_issue` (`id` text not null, `tenant_id` text not null, `signature` text not null, `category` text not null, `event_class` text not null, `component_id` text null, `image_id` text null, `exit_code` integer null, `signal` integer null, `first_seen` datetime not null, `last_seen` datetime not null, `event_count` integer not null, `device_count` integer not null, `opened_at` datetime not null, constraint `error_issue_tenant_id_foreign` foreign key(`tenant_id`) references `tenant`(`id`) on update cascade, primary key (`id`));');
    this.addSql('create index `error_issue_tenant_id_index` on `error_issue` (`tenant_id`);');
    this.addSql('create index `error_issue_tenant_id_last_seen_index` on `error_issue` (`tenant_id`, `last_seen`);');
    this.addSql('create index `error_issue_tenant_id_device_count_index` on `error_issue` (`tenant_id`, `device_count`);');
    this.addSql('create unique index `error_issue_tenant_id_signature_unique` on `error_issue` (`tenant_id`, `signature`);');
    this.addSql('create table `error_report_drop` (`id` text not null, `tenant_id` text not null, `device_id` text not null, `hour_bucket` integer not null, `reason` text not null, `dropped` integer not null, `updated_at` datetime not null, constraint `error_report_drop_tenant_id_foreign` foreign key(`tenant_id`) references `tenant`(`id`) on update cascade, constraint `error_report_drop_device_id_foreign` foreign key(`device_id`) references `device`(`id`) on update cascade, primary key (`id`));');
    this.addSql('create index `error_report_drop_tenant_id_index` on `error_report_drop` (`tenant_id`);');
    this.addSql('create index `error_report_drop_device_id_index` on `error_report_drop` (`device_id`);');
    this.addSql('create index `error_report_drop_tenant_id_hour_bucket_index` on `error_report_drop` (`tenant_id`, `hour_bucket`);');
    this.addSql('create index `error_report_drop_updated_at_index` on `error_report_drop` (`updated_at`);');
    this.addSql('create unique index `error_report_drop_device_id_hour_bucket_reason_unique` on `error_report_drop` (`device_id`, `hour_bucket`, `reason`);');
    this.addSql('create table `error_report` (`id` text not null, `tenant_id` text not null, `device_id` text not null, `event_id` text not null, `event_type` text not null, `event_class` text not null, `category` text not null, `count` integer not null, `description` text not null, `exit_code` integer null, `signal` integer null, `component_id` text null, `image_id` text null, `start_time` datetime not null, `end_time` datetime not null, `hour_bucket` integer not null, `received_at` datetime not null, `product_id` text null, `device_group_id` text null, `issue_id` text null, constraint `error_report_tenant_id_foreign` foreign key(`tenant_id`) references `tenant`(`id`) on update cascade, constraint `error_report_device_id_foreign` foreign key(`device_id`) references `device`(`id`) on update cascade, constraint `error_report_product_id_foreign` foreign key(`product_id`) references `product`(`id`) on delete set null on update cascade, constraint `error_report_device_group_id_foreign` foreign key(`device_group_id`) references `device_group`(`id`) on delete set null on update cascade, constraint `error_report_issue_id_foreign` foreign key(`issue_id`) references `error_issue`(`id`) on delete set null on update cascade, primary key (`id`));');
    this.addSql('create index `error_report_tenant_id_index` on `error_report` (`tenant_id`);');
    this.addSql('create index `error_report_device_id_index` on `error_report` (`device_id`);');
    this.addSql('create index `error_report_product_id_index` on `error_report` (`product_id`);');
    this.addSql('create index `error_report_device_group_id_index` on `error_report` (`device_group_id`);');
    this.addSql('create index `error_report_tenant_id_start_time_id_index` on `error_report` (`tenant_id`, `start_time`, `id`);');
    this.addSql('create index `error_report_device_id_received_at_index` on `error_report` (`device_id`, `received_at`);');
    this.addSql('create index `error_report_end_time_index` on `error_report` (`end_time`);');
    this.addSql('create index `error_report_issue_id_index` on `error_report` (`issue_id`);');
    this.addSql('create unique index `error_report_device_id_event_id_unique` on `error_report` (`device_id`, `event_id`);');
    this.addSql('create table `error_issue_device` (`id` text not null, `issue_id` text not null, `device_id` text not null, constraint `error_issue_device_issue_id_foreign` foreign key(`issue_id`) references `error_issue`(`id`) on delete cascade on update cascade, constraint `error_issue_device_device_id_foreign` foreign key(`device_id`) references `device`(`id`) on update cascade, primary key (`id`));');
    this.addSql('create index `error_issue_device_issue_id_index` on `error_issue_device` (`issue_id`);');
    this.addSql('create index `error_issue_device_device_id_index` on `error_issue_device` (`device_id`);');
    this.addSql('create unique index `error_issue_device_issue_id_device_id_unique` on `error_issue_device` (`issue_id`, `device_id`);');
    this.addSql('alter table `device` add column `error_events_dropped_total` integer not null default 0;');
  }

  override down(): void {
    // MikroORM derives no down migration for sqlite here: restore a backup to go back.
  }
}

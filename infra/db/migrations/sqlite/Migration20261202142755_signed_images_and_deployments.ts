import { Migration } from '@mikro-orm/migrations';

/** Generated for sqlite by infra/db/generate-migration.ts from the entity metadata. Do not edit once released. */
export class Migration20261202142755_signed_images_and_deployments extends Migration {
  override up(): void {
    this.addSql('create table `signing_key` (`id` text not null, `tenant_id` text null, `name` text not null, `public_key_pem` text not null, `fingerprint` text not null, `created_at` datetime not null, constraint `signing_key_tenant_id_foreign` foreign key(`tenant_id`) references `tenant`(`id`) on delete set null on update cascade, primary key (`id`));');
    this.addSql('create index `signing_key_tenant_id_index` on `signing_key` (`tenant_id`);');
    this.addSql('create table `image` (`id` text not null, `tenant_id` text null, `component_id` text not null, `name` text not null, `version` text not null, `type` text not null, `sha256` text not null, `size` integer not null, `signature` text not null, `signing_key_id` text not null, `status` text not null, `created_at` datetime not null, `uploaded_at` datetime null, constraint `image_tenant_id_foreign` foreign key(`tenant_id`) references `tenant`(`id`) on delete set null on update cascade, constraint `image_signing_key_id_foreign` foreign key(`signing_key_id`) references `signing_key`(`id`) on update cascade, primary key (`id`));');
    this.addSql('create index `image_tenant_id_index` on `image` (`tenant_id`);');
    this.addSql('create index `image_signing_key_id_index` on `image` (`signing_key_id`);');
    this.addSql('create index `image_tenant_id_component_id_sha256_index` on `image` (`tenant_id`, `component_id`, `sha256`);');
    this.addSql('create index `image_tenant_id_created_at_index` on `image` (`tenant_id`, `created_at`);');
    this.addSql('create table `os_feed_release` (`id` text not null, `feed` text not null, `image_id` text not null, `version` text not null, `published_at` datetime not null, constraint `os_feed_release_image_id_foreign` foreign key(`image_id`) references `image`(`id`) on update cascade, primary key (`id`));');
    this.addSql('create index `os_feed_release_image_id_index` on `os_feed_release` (`image_id`);');
    this.addSql('create index `os_feed_release_feed_published_at_index` on `os_feed_release` (`feed`, `published_at`);');
    this.addSql('create unique index `os_feed_release_feed_image_id_unique` on `os_feed_release` (`feed`, `image_id`);');
    this.addSql('create table `deployment` (`id` text not null, `tenant_id` text not null, `device_group_id` text not null, `image_ids` json not null, `state` text not null, `reason` text null, `rollout` json null, `baseline` json null, `wave` integer not null default 0, `created_at` datetime not null, `ended_at` datetime null, constraint `deployment_tenant_id_foreign` foreign key(`tenant_id`) references `tenant`(`id`) on update cascade, constraint `deployment_device_group_id_foreign` foreign key(`device_group_id`) references `device_group`(`id`) on update cascade, primary key (`id`));');
    this.addSql('create index `deployment_tenant_id_index` on `deployment` (`tenant_id`);');
    this.addSql('create index `deployment_device_group_id_index` on `deployment` (`device_group_id`);');
    this.addSql('create index `deployment_tenant_id_device_group_id_created_at_index` on `deployment` (`tenant_id`, `device_group_id`, `created_at`);');
    this.addSql('create index `deployment_state_index` on `deployment` (`state`);');
    this.addSql('create table `deployment_device` (`id` text not null, `deployment_id` text not null, `device_id` text not null, `admitted` integer not null, `wave` integer null, `admitted_at` datetime null, `state` text not null, `reason` text null, `image_states` json not null, `updated_at` datetime not null, constraint `deployment_device_deployment_id_foreign` foreign key(`deployment_id`) references `deployment`(`id`) on update cascade, constraint `deployment_device_device_id_foreign` foreign key(`device_id`) references `device`(`id`) on update cascade, primary key (`id`));');
    this.addSql('create index `deployment_device_deployment_id_index` on `deployment_device` (`deployment_id`);');
    this.addSql('create index `deployment_device_deployment_id_admitted_state_index` on `deployment_device` (`deployment_id`, `admitted`, `state`);');
    this.addSql('create index `deployment_device_device_id_index` on `deployment_device` (`device_id`);');
    this.addSql('create unique index `deployment_device_deployment_id_device_id_unique` on `deployment_device` (`deployment_id`, `device_id`);');
    this.addSql('alter table `error_issue` add column `deployment_id` text null;');
  }

  override down(): void {
    // MikroORM derives no down migration for sqlite here: restore a backup to go back.
  }
}

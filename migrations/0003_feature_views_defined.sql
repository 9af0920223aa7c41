-- A view may be defined on its own (POST /admin/features), before any model names it: model and
-- version become nullable. No foreign keys point at feature_views, so no pragma is needed.
CREATE TABLE `__new_feature_views` (
	`name` text PRIMARY KEY NOT NULL,
	`definition` text NOT NULL,
	`model` text,
	`version` integer,
	`created_at` text NOT NULL
);
--> statement-breakpoint
INSERT INTO `__new_feature_views`("name", "definition", "model", "version", "created_at") SELECT "name", "definition", "model", "version", "created_at" FROM `feature_views`;--> statement-breakpoint
DROP TABLE `feature_views`;--> statement-breakpoint
ALTER TABLE `__new_feature_views` RENAME TO `feature_views`;
CREATE TABLE `feature_views` (
	`name` text PRIMARY KEY NOT NULL,
	`definition` text NOT NULL,
	`model` text NOT NULL,
	`version` integer NOT NULL,
	`created_at` text NOT NULL
);

CREATE TABLE `models` (
	`name` text PRIMARY KEY NOT NULL,
	`created_at` text NOT NULL
);
--> statement-breakpoint
CREATE TABLE `versions` (
	`model` text NOT NULL,
	`version` integer NOT NULL,
	`sha256` text NOT NULL,
	`size` integer NOT NULL,
	`manifest` text NOT NULL,
	`state` text NOT NULL,
	`created_at` text NOT NULL,
	`pushed_by` text,
	PRIMARY KEY(`model`, `version`),
	FOREIGN KEY (`model`) REFERENCES `models`(`name`) ON UPDATE no action ON DELETE no action
);

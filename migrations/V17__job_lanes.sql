-- The task lane a job's tasks went to: 'interactive' (`<ns>.tasks.interactive`, small jobs
-- and jobs marked `priority: high`, with worker slots of their own) or 'bulk'
-- (`<ns>.tasks.device`). Set by the dispatcher once the job's devices are counted, before
-- any task goes out; NULL for a job that ended before (refused, no devices matched) and
-- for jobs older than this migration. A new nullable column: no table rewrite.

ALTER TABLE jobs ADD COLUMN lane text CHECK (lane IN ('bulk', 'interactive'));

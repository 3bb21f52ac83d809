-- Device output that is not text: a NUL byte or bytes that are not UTF-8, which a `text`
-- column refuses. `content` and `output` stay text, always (a lossy form, U+FFFD where
-- the device sent a NUL or an invalid sequence), so search, diff and the views read one
-- column; the new bytea columns hold the exact bytes, and only when the text is not them.
-- Adding a nullable column without a default rewrites nothing.
ALTER TABLE device_configs ADD COLUMN content_bytes bytea;
ALTER TABLE device_configs ALTER COLUMN content_bytes SET COMPRESSION lz4;
ALTER TABLE command_outputs ADD COLUMN output_bytes bytea;
ALTER TABLE command_outputs ALTER COLUMN output_bytes SET COMPRESSION lz4;

COMMENT ON COLUMN device_configs.content IS
    'The configuration as text; lossy (U+FFFD) exactly when content_bytes is set.';
COMMENT ON COLUMN device_configs.content_bytes IS
    'The exact bytes the device sent, when they are not valid UTF-8 or hold a NUL; NULL when content is them.';
COMMENT ON COLUMN command_outputs.output IS
    'The output as text; lossy (U+FFFD) exactly when output_bytes is set.';
COMMENT ON COLUMN command_outputs.output_bytes IS
    'The exact bytes the device sent, when they are not valid UTF-8 or hold a NUL; NULL when output is them.';

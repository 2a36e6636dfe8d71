-- 002_request_log.sql - request ids as long as the gateway accepts them.
--
-- The request log keys each request by the X-Request-ID the client sent
-- (up to 128 characters), so the log can be matched with the client's
-- own records; 001 allowed 64.
ALTER TABLE orchestration_requests ALTER COLUMN request_id TYPE varchar(128);
ALTER TABLE orchestration_results ALTER COLUMN request_id TYPE varchar(128);

-- The payment connector's way back in (docs/connectors.md).
--
-- A connector process takes pending rows of bulkorder.payment_requests with
-- FOR UPDATE SKIP LOCKED (so several connectors never take the same one),
-- asks the provider, and reports the answer here in the same transaction.
-- Taking a row lock needs an UPDATE privilege on some column: a connector
-- role is granted UPDATE (attempts, last_attempt_at) only, which it uses to
-- record a try that got no answer, so the status itself moves only through
-- complete_payment_request.

ALTER TABLE bulkorder.payment_requests
    ADD COLUMN attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    ADD COLUMN last_attempt_at timestamptz;

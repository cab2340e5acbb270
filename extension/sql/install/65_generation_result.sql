-- What generate_subscription_orders() returns.
CREATE TYPE bulkorder.generation_result AS (
    created integer,      -- orders created
    failed integer        -- masters marked autogen_error
);

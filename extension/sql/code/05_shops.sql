-- Many shops in one database (extension/src/shop.c; docs/security.md).

-- The shop the session acts on, for a row inserted without one: the
-- setting bulkorder.shop, else the role's only granted shop, else the
-- database's only shop; otherwise 22023.  The default of every shop_id
-- column (below).  The engine never relies on it: it writes the job's
-- shop into the rows it inserts itself.
CREATE OR REPLACE FUNCTION bulkorder.session_shop_id()
RETURNS bigint
AS 'MODULE_PATHNAME', 'bulkorder_session_shop_id'
LANGUAGE C STABLE;

COMMENT ON FUNCTION bulkorder.session_shop_id() IS
'The shop the session acts on (bulkorder.shop, else the role''s only shop, else the database''s only shop): the default of every shop_id';

-- The shop of a call, checked against the calling role's grants (42501):
-- for the PL/pgSQL functions of the API, as the C functions do it.
CREATE OR REPLACE FUNCTION bulkorder_catalog.call_shop()
RETURNS bigint
AS 'MODULE_PATHNAME', 'bulkorder_call_shop'
LANGUAGE C VOLATILE;

-- The options of a PL/pgSQL function of the API (operator, shop), read by
-- the parser of every call's options (extension/src/options.c): an unknown
-- one is rejected with the hint of the message unknown_msg (messages.c).
-- Returns the call's shop (options.shop first), checked as call_shop's,
-- and options.operator.
CREATE OR REPLACE FUNCTION bulkorder_catalog.call_options(options jsonb, unknown_msg text,
                                                          OUT shop_id bigint, OUT operator text)
AS 'MODULE_PATHNAME', 'bulkorder_call_options'
LANGUAGE C VOLATILE;

-- Is the calling role (or a role whose privileges it has) granted the
-- shop?  A superuser is granted every shop.
CREATE OR REPLACE FUNCTION bulkorder_catalog.shop_granted(shop_id bigint)
RETURNS boolean
AS 'MODULE_PATHNAME', 'bulkorder_shop_granted'
LANGUAGE C STABLE STRICT;

-- What the engine writes into a shop_id a statement of a job sets itself:
-- the value, when it is the job's shop; an error otherwise (confine.c).
CREATE OR REPLACE FUNCTION bulkorder_catalog.same_shop(value bigint, shop bigint)
RETURNS bigint
AS 'MODULE_PATHNAME', 'bulkorder_same_shop'
LANGUAGE C IMMUTABLE;

REVOKE ALL ON FUNCTION bulkorder.session_shop_id(), bulkorder_catalog.call_shop(),
                       bulkorder_catalog.call_options(jsonb, text),
                       bulkorder_catalog.shop_granted(bigint),
                       bulkorder_catalog.same_shop(bigint, bigint)
    FROM PUBLIC;

-- Every shop_id defaults to the session's shop, so that a 1.1 script that
-- inserts rows without naming a shop still works.  Set again at every
-- install and update: DROP EXTENSION … CASCADE drops the defaults (they
-- call an extension function) and leaves the tables, which a later CREATE
-- EXTENSION adopts.  A restore creates the tables after this runs, from the
-- dump, defaults included.
DO $shop_defaults$
DECLARE
    t regclass;
BEGIN
    FOR t IN
        SELECT c.oid::regclass
        FROM pg_catalog.pg_class c
        JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attname = 'shop_id' AND NOT a.attisdropped
        WHERE c.relnamespace = 'bulkorder'::regnamespace AND c.relkind = 'r'
          AND c.relname NOT IN ('shops', 'shop_roles')
        ORDER BY c.relname
    LOOP
        EXECUTE pg_catalog.format('ALTER TABLE %s ALTER COLUMN shop_id SET DEFAULT bulkorder.session_shop_id()', t);
    END LOOP;
END
$shop_defaults$;

-- The shops the current role sees (extension/src/shop.c): what row-level
-- security shows it.  Every role may run it (a policy runs it as the role
-- that reads): it tells a role only its own shops, and nobody can call it
-- by name without USAGE on bulkorder_catalog.
CREATE OR REPLACE FUNCTION bulkorder_catalog.visible_shop_ids()
RETURNS bigint[]
AS 'MODULE_PATHNAME', 'bulkorder_visible_shop_ids'
LANGUAGE C STABLE;
GRANT EXECUTE ON FUNCTION bulkorder_catalog.visible_shop_ids() TO PUBLIC;

-- Row-level security of the shop's tables (shop/99_shops.sql enables it):
-- a role reads and changes the rows of the shops it sees
-- (bulkorder_catalog.visible_shop_ids(): no sub-select, which Citus refuses
-- in the policy of a distributed table; its answer is kept per statement),
-- and its own rows of shop_roles.  Created again at every install and
-- update: DROP EXTENSION … CASCADE drops them with the function, and the
-- tables then show a role no row until CREATE EXTENSION adopts them.
DO $shop_policies$
DECLARE
    t regclass;
BEGIN
    FOR t IN
        SELECT c.oid::regclass
        FROM pg_catalog.pg_class c
        WHERE c.relnamespace = 'bulkorder'::regnamespace AND c.relkind = 'r' AND c.relrowsecurity
          AND c.relname <> 'shop_roles'
        ORDER BY c.relname
    LOOP
        EXECUTE pg_catalog.format('DROP POLICY IF EXISTS shop_visible ON %s', t);
        EXECUTE pg_catalog.format('CREATE POLICY shop_visible ON %s'
                                  ' USING (shop_id = ANY (bulkorder_catalog.visible_shop_ids()))', t);
    END LOOP;
END
$shop_policies$;

-- A shop's starting rows, the ones a fresh install gives its first shop:
-- the payment methods and the mail templates.  Which methods have a
-- payment gateway to void, can be re-authorized or need a shipment report
-- is data, not code: a shop adding a deferred-payment provider adds a row.
-- Placeholders {{name}} of the templates are filled by render_mail().
CREATE OR REPLACE FUNCTION bulkorder_catalog.add_starting_rows(shop bigint)
RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $fn$
    INSERT INTO bulkorder.payment_methods
        (shop_id, code, name, has_gateway, reauthorizable, needs_ship_report, reauth_message)
    VALUES
        (shop, 'credit_card', 'クレジットカード', true, false, false, NULL),
        (shop, 'cod', '代引き', false, false, false, NULL),
        (shop, 'bank_transfer', '銀行振込', false, false, false, NULL),
        (shop, 'np_atobarai', 'NP後払い', true, true, true, 'NPの与信がNGになりました。NG999。'),
        (shop, 'np_atobarai_realtime', 'NP後払い(リアルタイム)', true, true, true, 'NPの与信がNGになりました。NG999。'),
        (shop, 'gmo_ps_atobarai', 'GMO-PS後払い', true, true, false, NULL),
        (shop, 'dsk_atobarai', 'DSK後払い', true, true, true, NULL),
        (shop, 'score_atobarai', 'スコア後払い', true, true, false, NULL),
        (shop, 'subsc_atobarai_eco', 'サブスク後払いECO', true, true, true, NULL);
    INSERT INTO bulkorder.mail_templates (shop_id, code, name, subject, body, enabled) VALUES
        (shop, 'cod_auto_change', '代引き自動変更(与信NG時)',
         '【ご注文番号 {{order_no}}】お支払い方法変更のお知らせ',
         E'{{customer_name}} 様\n\nご注文番号 {{order_no}} は後払いの与信が通らなかったため、お支払い方法を代引きに変更いたしました。\n商品お受け取りの際に配達員へお支払いください。\n',
         true),
        (shop, 'ship_complete', '出荷完了メール',
         '【ご注文番号 {{order_no}}】商品を発送いたしました',
         E'{{customer_name}} 様\n\nご注文番号 {{order_no}} の商品を発送いたしました。\nお問い合わせ伝票番号: {{tracking_no}}\n',
         true);
$fn$;
REVOKE ALL ON FUNCTION bulkorder_catalog.add_starting_rows(bigint) FROM PUBLIC;

-- a fresh install: shop 1's (install/00_mode.sql)
DO $starting_rows$
BEGIN
    IF pg_catalog.current_setting('bulkorder_install.mode', true) = 'fresh' THEN
        PERFORM bulkorder_catalog.add_starting_rows(1);
    END IF;
END
$starting_rows$;

-- create_shop(code, name): a new shop with a fresh install's starting rows.
-- Superuser only (nothing is granted on it).
CREATE OR REPLACE FUNCTION bulkorder.create_shop(code text, name text)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    new_id bigint;
BEGIN
    IF create_shop.code IS NULL OR create_shop.name IS NULL THEN
        RAISE EXCEPTION 'code and name must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF create_shop.code !~ '^[a-z0-9_-]{1,63}$' THEN
        RAISE EXCEPTION 'shop code "%" is not a valid code', create_shop.code
            USING ERRCODE = '22023',
                  HINT = bulkorder_catalog.message('CREATE_SHOP_CODE');
    END IF;
    IF btrim(create_shop.name) = '' THEN
        RAISE EXCEPTION 'the name of shop "%" must not be blank', create_shop.code USING ERRCODE = '22023';
    END IF;
    IF EXISTS (SELECT FROM bulkorder.shops s WHERE s.code = create_shop.code) THEN
        RAISE EXCEPTION 'shop "%" already exists', create_shop.code
            USING ERRCODE = '42710', HINT = bulkorder_catalog.message('CHOOSE_ANOTHER_CODE');
    END IF;
    INSERT INTO bulkorder.shops (code, name) VALUES (create_shop.code, create_shop.name)
    RETURNING shop_id INTO new_id;
    PERFORM bulkorder_catalog.add_starting_rows(new_id);
    RETURN new_id;
END
$fn$;

COMMENT ON FUNCTION bulkorder.create_shop(text, text) IS
'A new shop (a tenant of this database) with the starting rows of a fresh install; returns its shop_id';
REVOKE ALL ON FUNCTION bulkorder.create_shop(text, text) FROM PUBLIC;

-- The shop a grant names: a code, or NULL for the database's only shop.
CREATE OR REPLACE FUNCTION bulkorder_catalog.grant_shop(shop text)
RETURNS bigint
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    found_id bigint;
BEGIN
    IF shop IS NULL THEN
        IF (SELECT count(*) FROM bulkorder.shops) > 1 THEN
            RAISE EXCEPTION 'this database has several shops: name the shop'
                USING ERRCODE = '22023',
                      HINT = bulkorder_catalog.message('GRANT_NAME_SHOP');
        END IF;
        SELECT s.shop_id INTO found_id FROM bulkorder.shops s;
    ELSE
        SELECT s.shop_id INTO found_id FROM bulkorder.shops s WHERE s.code = shop;
        IF found_id IS NULL THEN
            RAISE EXCEPTION 'unknown shop "%"', shop
                USING ERRCODE = '22023', HINT = bulkorder_catalog.message('GRANT_SHOP_UNKNOWN');
        END IF;
    END IF;
    RETURN found_id;
END
$fn$;

-- A role a grant_* or revoke_* function names: one of pg_roles ('' would
-- be broken SQL, and GRANT … TO "public" would grant to PUBLIC).
CREATE OR REPLACE FUNCTION bulkorder_catalog.check_role(role_name name)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF role_name IS NULL THEN
        RAISE EXCEPTION 'role must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    ELSIF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = role_name) THEN
        RAISE EXCEPTION 'role "%" does not exist', role_name USING ERRCODE = 'undefined_object';
    END IF;
END
$fn$;

-- Record that a role acts on a shop as kind: the first steps of every
-- grant_* function (docs/security.md).
CREATE OR REPLACE FUNCTION bulkorder_catalog.grant_shop_role(role_name name, shop text, kind text)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_shop bigint;
BEGIN
    PERFORM bulkorder_catalog.check_role(role_name);
    v_shop := bulkorder_catalog.grant_shop(shop);
    INSERT INTO bulkorder.shop_roles (shop_id, role, kind)
    VALUES (v_shop, role_name::regrole, kind)
    ON CONFLICT DO NOTHING;
    EXECUTE format('GRANT USAGE ON SCHEMA bulkorder TO %I', role_name);
    -- its own grants, which the tables' row-level security reads
    EXECUTE format('GRANT SELECT ON bulkorder.shop_roles, bulkorder.shops TO %I', role_name);
    RETURN v_shop;
END
$fn$;

REVOKE ALL ON FUNCTION bulkorder_catalog.grant_shop(text), bulkorder_catalog.check_role(name),
                       bulkorder_catalog.grant_shop_role(name, text, text) FROM PUBLIC;

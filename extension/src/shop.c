/*-------------------------------------------------------------------------
 *
 * shop.c
 *	  Many shops in one database: the shop a call acts on, and which shops
 *	  a role may act on and see.
 *
 * The shop of a call is options.shop (a code), else the setting
 * bulkorder.shop, else the calling role's only granted shop, else the
 * database's only shop; otherwise the call is refused (22023).  A role acts
 * only on the shops it is granted (bulkorder.shop_roles, membership
 * counts): another shop is refused with 42501.  A superuser acts on any.
 * Every statement the engine runs for the call is then confined to that
 * shop (confine.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "bulkorder.h"

PG_FUNCTION_INFO_V1(bulkorder_session_shop_id);
PG_FUNCTION_INFO_V1(bulkorder_call_shop);
PG_FUNCTION_INFO_V1(bulkorder_shop_granted);
PG_FUNCTION_INFO_V1(bulkorder_visible_shop_ids);

/* GUC bulkorder.shop: the shop code the session acts on ('' = none) */
char	   *bulkorder_shop = NULL;

/* A shop code as shops.code allows it: 1-63 of [a-z0-9_-] (22023 else) */
static void
check_code(const char *code, const char *what)
{
	size_t		len = strlen(code);
	bool		ok = len >= 1 && len <= 63;

	for (size_t i = 0; ok && i < len; i++)
		ok = (code[i] >= 'a' && code[i] <= 'z') || (code[i] >= '0' && code[i] <= '9') ||
			code[i] == '-' || code[i] == '_';
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s \"%s\" is not a shop code", what, code),
				 bulk_errhint(BMSG_SHOP_CODE, what)));
}

/* SPI: one bigint column of one row, or found = false (argtype 0: no $1) */
static int64
query_int8(const char *sql, Oid argtype, Datum arg, bool *found)
{
	bool		isnull;
	int64		result = 0;

	if (SPI_execute_with_args(sql, OidIsValid(argtype) ? 1 : 0, &argtype, &arg, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "bulkorder: SPI_execute_with_args failed for: %s", sql);
	*found = SPI_processed == 1;
	if (*found)
	{
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		*found = !isnull;
		if (!isnull)
			result = DatumGetInt64(d);
	}
	SPI_freetuptable(SPI_tuptable);
	return result;
}

/* The owner of bulkorder.shops, who reads it past row-level security */
static Oid
shops_owner(void)
{
	Oid			relid = get_relname_relid("shops", get_namespace_oid("bulkorder", false));
	HeapTuple	tup;
	Oid			owner;

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("table bulkorder.shops does not exist"),
				 bulk_errhint(BMSG_SHOPS_MISSING, NULL)));
	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	return owner;
}

/*
 * The tables the shop's grants are read from: bulkorder.shops and
 * bulkorder.shop_roles, or on a Citus node that holds copies of those
 * reference tables (every node, once distribute_shops() has run), the
 * copies, their local shards.  Row-level security runs visible_shops()
 * inside the query of a shard on a worker, where Citus refuses a query of
 * a Citus table ("cannot execute a distributed query from a query on a
 * shard"); the local copy is a plain table there.  Read once per
 * transaction (a call asks up to five times).  Connected to SPI.
 */
static LocalTransactionId grants_lxid = InvalidLocalTransactionId;
static char *grants_shops = NULL;
static char *grants_roles = NULL;

static void
grants_tables(char **shops, char **roles)
{
	bool		isnull;

	if (grants_lxid != MyProc->lxid)
	{
		grants_shops = "bulkorder.shops";
		grants_roles = "bulkorder.shop_roles";
		if (OidIsValid(get_extension_oid("citus", true)))
		{
			if (SPI_execute("SELECT c.relname, s.shardid FROM pg_catalog.pg_dist_shard s"
							" JOIN pg_catalog.pg_dist_placement p ON p.shardid = s.shardid"
							" JOIN pg_catalog.pg_class c ON c.oid = s.logicalrelid"
							" WHERE s.logicalrelid IN ('bulkorder.shops'::pg_catalog.regclass,"
							"                          'bulkorder.shop_roles'::pg_catalog.regclass)"
							"   AND p.groupid = (SELECT groupid FROM pg_catalog.pg_dist_local_group)",
							true, 0) != SPI_OK_SELECT)
				elog(ERROR, "bulkorder: could not read pg_dist_shard");
			for (uint64 i = 0; i < SPI_processed; i++)
			{
				char	   *relname = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
				int64		shardid = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i],
																  SPI_tuptable->tupdesc, 2, &isnull));
				/* kept for the transaction: SPI's memory ends with the call */
				char	   *name = MemoryContextStrdup(TopTransactionContext,
													   psprintf("bulkorder.%s",
																quote_identifier(psprintf("%s_%lld", relname,
																						  (long long) shardid))));

				if (strcmp(relname, "shops") == 0)
					grants_shops = name;
				else
					grants_roles = name;
			}
			SPI_freetuptable(SPI_tuptable);
		}
		grants_lxid = MyProc->lxid;
	}
	*shops = grants_shops;
	*roles = grants_roles;
}

/*
 * The shops user may act on and see: a superuser every shop; any other
 * role the shops granted to it or to a role whose privileges it has
 * (bulkorder.shop_roles); a role granted no shop at all, the database's
 * only shop, as in 1.1 (its privileges decide).  narrow: the session's shop
 * alone when it names one (bulkorder.shop), as the views and row-level
 * security show it.  Read as the extension's owner: the calling role need
 * not see shops or shop_roles.  The caller is connected to SPI.
 */
static ArrayType *
visible_shops(Oid user, bool narrow)
{
	Oid			types[3] = {OIDOID, BOOLOID, TEXTOID};
	Datum		values[3];
	char		nulls[3] = {' ', ' ', ' '};
	Oid			save_user;
	int			save_sec;
	bool		isnull;
	int			rc;
	ArrayType  *result;
	char	   *shops;
	char	   *roles;

	values[0] = ObjectIdGetDatum(user);
	values[1] = BoolGetDatum(superuser_arg(user));
	if (narrow && bulkorder_shop && bulkorder_shop[0])
		values[2] = CStringGetTextDatum(bulkorder_shop);
	else
		nulls[2] = 'n';
	GetUserIdAndSecContext(&save_user, &save_sec);
	SetUserIdAndSecContext(shops_owner(), save_sec | SECURITY_LOCAL_USERID_CHANGE);
	grants_tables(&shops, &roles);
	rc = SPI_execute_with_args(psprintf("SELECT coalesce(array_agg(s.shop_id ORDER BY s.shop_id), '{}')"
										" FROM %s s"
										" WHERE ($2 OR EXISTS (SELECT FROM %s g WHERE g.shop_id = s.shop_id"
										"                        AND pg_catalog.pg_has_role($1, g.role::oid, 'USAGE'))"
										"       OR (NOT EXISTS (SELECT FROM %s g"
										"                        WHERE pg_catalog.pg_has_role($1, g.role::oid, 'USAGE'))"
										"           AND (SELECT count(*) FROM %s) = 1))"
										"   AND s.code = coalesce($3, s.code)",
										shops, roles, roles, shops),
							   3, types, values, nulls, true, 1);
	SetUserIdAndSecContext(save_user, save_sec);
	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "bulkorder: could not read bulkorder.shops");
	result = DatumGetArrayTypePCopy(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_freetuptable(SPI_tuptable);
	return result;
}

/* Is shop one of visible_shops(user, false)? */
static bool
user_granted(Oid user, int64 shop)
{
	ArrayType  *shops = visible_shops(user, false);
	int64	   *ids = (int64 *) ARR_DATA_PTR(shops);
	int			n = ArrayGetNItems(ARR_NDIM(shops), ARR_DIMS(shops));

	for (int i = 0; i < n; i++)
		if (ids[i] == shop)
			return true;
	return false;
}

/*
 * The shop a call acts on (see the head of this file), with the calling
 * role's right to act on it checked.  option_code: options.shop, or NULL.
 * Connects to SPI itself.
 */
int64
bulk_resolve_shop(const char *option_code)
{
	const char *setting = bulkorder_shop && bulkorder_shop[0] ? bulkorder_shop : NULL;
	const char *code = NULL;
	Oid			user = GetOuterUserId();
	Oid			save_user;
	int			save_sec;
	int64		shop;
	char	   *shops_table;
	char	   *roles_table;
	bool		found;

	/* another version's objects: the call stops here, saying what to do */
	bulk_check_installed_version();
	if (option_code)
	{
		check_code(option_code, "options.shop");
		if (setting && strcmp(setting, option_code) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("options.shop \"%s\" differs from bulkorder.shop \"%s\"", option_code, setting),
					 bulk_errhint(BMSG_SHOP_DIFFERS, option_code, setting)));
		code = option_code;
	}
	else if (setting)
	{
		check_code(setting, "bulkorder.shop");
		code = setting;
	}

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "bulkorder: SPI_connect failed");
	/* the tables as their owner reads them, past row-level security */
	GetUserIdAndSecContext(&save_user, &save_sec);
	SetUserIdAndSecContext(shops_owner(), save_sec | SECURITY_LOCAL_USERID_CHANGE);
	grants_tables(&shops_table, &roles_table);
	if (code)
	{
		shop = query_int8(psprintf("SELECT shop_id FROM %s WHERE code = $1", shops_table),
						  TEXTOID, CStringGetTextDatum(code), &found);
		if (!found)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown shop \"%s\"", code),
					 bulk_errhint(BMSG_SHOP_UNKNOWN, code)));
	}
	else
	{
		/* the role's only shop (a superuser has none: it has them all) */
		found = false;
		if (!superuser_arg(user))
			shop = query_int8(psprintf("SELECT min(g.shop_id) FROM %s g"
									   " WHERE pg_catalog.pg_has_role($1, g.role::oid, 'USAGE')"
									   " HAVING count(DISTINCT g.shop_id) = 1", roles_table),
							  OIDOID, ObjectIdGetDatum(user), &found);
		/* the database's only shop */
		if (!found)
			shop = query_int8(psprintf("SELECT min(shop_id) FROM %s HAVING count(*) = 1",
									   shops_table),
							  InvalidOid, (Datum) 0, &found);
		if (!found)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("which shop this call acts on is not known"),
					 bulk_errdetail(BMSG_SHOP_AMBIGUOUS, NULL),
					 bulk_errhint(BMSG_SHOP_NAME_IT, NULL)));
	}
	SetUserIdAndSecContext(save_user, save_sec);
	if (!user_granted(user, shop))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for shop \"%s\"",
						code ? code : psprintf("%lld", (long long) shop)),
				 bulk_errhint(BMSG_SHOP_DENIED, NULL)));
	SPI_finish();
	return shop;
}

/*
 * The start of a call of the API on its shop: the shop resolved
 * (option_code: options.shop, or NULL), every statement the engine runs
 * confined to it (confine.c), SPI connected.  Returns what bulk_leave_call
 * gives back.
 */
int64
bulk_enter_call(const char *option_code)
{
	int64		previous = bulk_confine(bulk_resolve_shop(option_code));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "bulkorder: SPI_connect failed");
	return previous;
}

/* The end of a call that bulk_enter_call started. */
void
bulk_leave_call(int64 previous)
{
	SPI_finish();
	bulk_confine(previous);
}

/*
 * What an answer kept for one statement depends on: the statement, the
 * role and the setting bulkorder.shop.  session_shop_id and
 * visible_shop_ids are called for every row a statement inserts or reads.
 */
typedef struct StatementKey
{
	LocalTransactionId lxid;	/* InvalidLocalTransactionId: nothing kept */
	CommandId	cid;
	Oid			user;
	char		setting[NAMEDATALEN * 2];
} StatementKey;

static StatementKey
statement_key(Oid user)
{
	StatementKey key;

	key.lxid = MyProc->lxid;
	key.cid = GetCurrentCommandId(false);
	key.user = user;
	strlcpy(key.setting, bulkorder_shop ? bulkorder_shop : "", sizeof(key.setting));
	return key;
}

static bool
same_statement(const StatementKey *a, const StatementKey *b)
{
	return a->lxid == b->lxid && a->cid == b->cid && a->user == b->user &&
		strcmp(a->setting, b->setting) == 0;
}

/*
 * bulkorder.session_shop_id(): the shop the session acts on, for a row
 * inserted without one (the default of every shop_id).  Resolved once per
 * statement: an INSERT of many rows asks once.
 */
Datum
bulkorder_session_shop_id(PG_FUNCTION_ARGS)
{
	static StatementKey cached_key = {InvalidLocalTransactionId};
	static int64 cached_shop;
	StatementKey key = statement_key(GetOuterUserId());

	if (same_statement(&key, &cached_key))
		PG_RETURN_INT64(cached_shop);
	cached_key.lxid = InvalidLocalTransactionId;
	cached_shop = bulk_resolve_shop(NULL);
	cached_key = key;
	PG_RETURN_INT64(cached_shop);
}

/*
 * bulkorder_catalog.call_shop(): the shop of a call of the API's PL/pgSQL
 * functions that take no options (those that do: call_options, options.c)
 */
Datum
bulkorder_call_shop(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64(bulk_resolve_shop(NULL));
}

/* bulkorder_catalog.shop_granted(shop): may the calling role act on it? */
Datum
bulkorder_shop_granted(PG_FUNCTION_ARGS)
{
	int64		shop = PG_GETARG_INT64(0);
	bool		granted;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "bulkorder: SPI_connect failed");
	granted = user_granted(GetOuterUserId(), shop);
	SPI_finish();
	PG_RETURN_BOOL(granted);
}

/*
 * bulkorder_catalog.visible_shop_ids(): the shops the current role sees
 * (visible_shops, narrowed to the session's shop): what the views and the
 * tables' row-level security show it.  Called once per query (the views and
 * policies wrap it in a sub-select); its answer is kept for the statement.
 */
Datum
bulkorder_visible_shop_ids(PG_FUNCTION_ARGS)
{
	static StatementKey cached_key = {InvalidLocalTransactionId};
	static ArrayType *cached = NULL;
	StatementKey key = statement_key(GetUserId());
	ArrayType  *shops;

	if (cached && same_statement(&key, &cached_key))
		PG_RETURN_ARRAYTYPE_P(cached);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "bulkorder: SPI_connect failed");
	shops = visible_shops(GetUserId(), true);
	SPI_finish();
	if (cached)
		pfree(cached);
	cached = (ArrayType *) MemoryContextAlloc(TopMemoryContext, VARSIZE(shops));
	memcpy(cached, shops, VARSIZE(shops));
	cached_key = key;
	PG_RETURN_ARRAYTYPE_P(shops);
}

void
bulk_shop_init(void)
{
	DefineCustomStringVariable("bulkorder.shop",
							   "The shop (its code) the session acts on.",
							   "Behind a transaction-pooling pooler, set it with SET LOCAL, or pass options.shop.",
							   &bulkorder_shop,
							   "",
							   PGC_USERSET, 0,
							   NULL, NULL, NULL);
}

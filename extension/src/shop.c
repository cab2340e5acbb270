/*-------------------------------------------------------------------------
 *
 * shop.c
 *	  Many shops in one database: the shop a call acts on, and the
 *	  confinement of every statement the engine runs to the job's shop.
 *
 * The shop of a call is options.shop (a code), else the setting
 * bulkorder.shop, else the calling role's only granted shop, else the
 * database's only shop; otherwise the call is refused (22023).  A role acts
 * only on the shops it is granted (bulkorder.shop_roles, membership
 * counts): another shop is refused with 42501.  A superuser acts on any.
 *
 * Confinement.  Every statement the engine runs for a job -- its own and
 * the fragments of shipped and shop-defined operations alike -- is planned
 * with the job's shop written into it: the planner hook below walks the
 * rewritten query (views expanded, every subquery, CTE and sub-select) and
 * gives each scan of a shop table the qual shop_id = <the shop>, where it
 * restricts that scan alone (an outer join's nullable side stays
 * nullable; PostgreSQL pushes it down to the scan), gives an
 * UPDATE or DELETE of one the same qual, and makes a row an INSERT or
 * UPDATE writes carry the shop (the column's default becomes the shop
 * itself; a value the statement gives is checked by
 * bulkorder_catalog.same_shop).  A fragment therefore cannot read or change
 * another shop's rows, whether or not it names shop_id, and every statement
 * is a single-shop statement that Citus can route.  The shop is a constant:
 * the engine keeps its plans per shop (catalog.c).
 *
 * On a Citus node, inside the delegated call of a chunk (citus.c), the hook
 * also replaces each distributed table by the shop's local shard, and each
 * reference table by its local copy: the statement is then PostgreSQL's to
 * plan and run, whole, as on one node.
 *
 * Only the statement the engine hands to SPI is confined: the hook acts
 * while a statement is "armed" (bulk_spi_exec and bulk_spi_execute_plan
 * arm it) and the statement's ExecutorStart disarms it, so what that
 * statement's execution plans itself -- foreign key checks, a PL/pgSQL
 * function it calls -- is planned as usual and its cached plans stay valid
 * for every shop.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_operator_d.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "optimizer/planner.h"
#include "parser/parse_func.h"
#include "parser/parsetree.h"
#include "storage/proc.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "access/htup_details.h"
#include "catalog/pg_class.h"

#include "bulkorder.h"

PG_FUNCTION_INFO_V1(bulkorder_session_shop_id);
PG_FUNCTION_INFO_V1(bulkorder_call_shop);
PG_FUNCTION_INFO_V1(bulkorder_shop_granted);
PG_FUNCTION_INFO_V1(bulkorder_same_shop);
PG_FUNCTION_INFO_V1(bulkorder_visible_shop_ids);

/* GUC bulkorder.shop: the shop code the session acts on ('' = none) */
char	   *bulkorder_shop = NULL;

/* the shop the engine's statements are confined to (0: none) */
static int64 confine_shop = 0;
/* the next statement planned is the engine's own: confine it */
static bool confine_armed = false;

/*
 * On a Citus node, in a delegated call (citus.c): the shop's shards that the
 * engine's statements scan instead of the distributed tables, so that
 * PostgreSQL plans and runs each statement whole, as on one node.
 */
static const Oid *shard_shells = NULL;
static const Oid *shard_shards = NULL;
static int	shard_count = 0;

/* =(bigint, bigint): a pinned OID of pg_operator.dat */
#define INT8_EQ_OPERATOR	410

static planner_hook_type prev_planner_hook = NULL;
static ExecutorStart_hook_type prev_executor_start_hook = NULL;

/* ----------------------------------------------------------------
 * The shop of a call
 * ----------------------------------------------------------------
 */

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
				 errhint("ALTER EXTENSION bulkorder UPDATE creates it.")));
	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	return owner;
}

/*
 * The table the shop's grants are read from: bulkorder.<relname>, or on a
 * Citus node that holds a copy of the reference table (every node, once
 * distribute_shops() has run), that copy, its local shard.  Row-level
 * security runs visible_shops() inside the query of a shard on a worker,
 * where Citus refuses a query of a Citus table ("cannot execute a
 * distributed query from a query on a shard"); the local copy is a plain
 * table there.  Connected to SPI.
 */
static char *
grants_table(const char *relname)
{
	char	   *name = psprintf("bulkorder.%s", relname);
	Oid			types[1] = {TEXTOID};
	Datum		values[1];
	bool		isnull;

	if (!OidIsValid(get_extension_oid("citus", true)))
		return name;
	values[0] = CStringGetTextDatum(name);
	if (SPI_execute_with_args("SELECT s.shardid FROM pg_catalog.pg_dist_shard s"
							  " JOIN pg_catalog.pg_dist_placement p ON p.shardid = s.shardid"
							  " WHERE s.logicalrelid = pg_catalog.to_regclass($1)"
							  "   AND p.groupid = (SELECT groupid FROM pg_catalog.pg_dist_local_group)",
							  1, types, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "bulkorder: could not read pg_dist_shard");
	if (SPI_processed == 1)
		name = psprintf("bulkorder.%s", quote_identifier(psprintf("%s_%lld", relname, (long long)
																	DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
																								SPI_tuptable->tupdesc,
																								1, &isnull)))));
	SPI_freetuptable(SPI_tuptable);
	return name;
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
	shops = grants_table("shops");
	roles = grants_table("shop_roles");
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
	if (code)
	{
		shop = query_int8(psprintf("SELECT shop_id FROM %s WHERE code = $1", grants_table("shops")),
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
									   " HAVING count(DISTINCT g.shop_id) = 1", grants_table("shop_roles")),
							  OIDOID, ObjectIdGetDatum(user), &found);
		/* the database's only shop */
		if (!found)
			shop = query_int8(psprintf("SELECT min(shop_id) FROM %s HAVING count(*) = 1",
									   grants_table("shops")),
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
 * bulkorder.session_shop_id(): the shop the session acts on, for a row
 * inserted without one (the default of every shop_id).  Resolved once per
 * statement: an INSERT of many rows asks once.
 */
Datum
bulkorder_session_shop_id(PG_FUNCTION_ARGS)
{
	static LocalTransactionId cached_lxid = InvalidLocalTransactionId;
	static CommandId cached_cid;
	static Oid	cached_user;
	static char cached_setting[NAMEDATALEN * 2];
	static int64 cached_shop;
	const char *setting = bulkorder_shop ? bulkorder_shop : "";
	CommandId	cid = GetCurrentCommandId(false);

	if (cached_lxid == MyProc->lxid && cached_cid == cid && cached_user == GetOuterUserId() &&
		strcmp(cached_setting, setting) == 0)
		PG_RETURN_INT64(cached_shop);
	cached_lxid = InvalidLocalTransactionId;
	cached_shop = bulk_resolve_shop(NULL);
	cached_cid = cid;
	cached_user = GetOuterUserId();
	strlcpy(cached_setting, setting, sizeof(cached_setting));
	cached_lxid = MyProc->lxid;
	PG_RETURN_INT64(cached_shop);
}

/* bulkorder_catalog.call_shop(options): for the API's PL/pgSQL functions */
Datum
bulkorder_call_shop(PG_FUNCTION_ARGS)
{
	char	   *option_code = NULL;

	if (!PG_ARGISNULL(0))
	{
		Jsonb	   *options = PG_GETARG_JSONB_P(0);
		JsonbValue	buf;
		JsonbValue *v;

		if (JB_ROOT_IS_OBJECT(options) && !JB_ROOT_IS_SCALAR(options) &&
			(v = getKeyJsonValueFromContainer(&options->root, "shop", 4, &buf)) != NULL)
			option_code = bulk_option_text("shop", v);
	}
	PG_RETURN_INT64(bulk_resolve_shop(option_code));
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
	static LocalTransactionId cached_lxid = InvalidLocalTransactionId;
	static CommandId cached_cid;
	static Oid	cached_user;
	static char cached_setting[NAMEDATALEN * 2];
	static ArrayType *cached = NULL;
	const char *setting = bulkorder_shop ? bulkorder_shop : "";
	CommandId	cid = GetCurrentCommandId(false);
	ArrayType  *shops;

	if (cached && cached_lxid == MyProc->lxid && cached_cid == cid && cached_user == GetUserId() &&
		strcmp(cached_setting, setting) == 0)
		PG_RETURN_ARRAYTYPE_P(cached);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "bulkorder: SPI_connect failed");
	shops = visible_shops(GetUserId(), true);
	SPI_finish();
	if (cached)
		pfree(cached);
	cached = (ArrayType *) MemoryContextAlloc(TopMemoryContext, VARSIZE(shops));
	memcpy(cached, shops, VARSIZE(shops));
	cached_lxid = MyProc->lxid;
	cached_cid = cid;
	cached_user = GetUserId();
	strlcpy(cached_setting, setting, sizeof(cached_setting));
	PG_RETURN_ARRAYTYPE_P(shops);
}

/*
 * bulkorder_catalog.same_shop(value, shop): a shop_id a statement of a job
 * writes itself must be the job's.
 */
Datum
bulkorder_same_shop(PG_FUNCTION_ARGS)
{
	int64		shop = PG_GETARG_INT64(1);

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();		/* NOT NULL refuses it, naming the column */
	if (PG_GETARG_INT64(0) != shop)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("a statement of a job of shop %lld wrote a row of shop %lld",
						(long long) shop, (long long) PG_GETARG_INT64(0)),
				 errdetail("Every statement the engine runs for a job is confined to the job's shop."),
				 errhint("Leave shop_id out of the operation's SQL: the engine writes the job's shop.")));
	PG_RETURN_INT64(shop);
}

/* ----------------------------------------------------------------
 * Confinement
 * ----------------------------------------------------------------
 */

/* Confine the engine's statements to shop (0: none); returns the previous. */
int64
bulk_confine(int64 shop)
{
	int64		previous = confine_shop;

	confine_shop = shop;
	confine_armed = false;
	return previous;
}

int64
bulk_confined_shop(void)
{
	return confine_shop;
}

/* The next statement planned is the engine's: confine it (when confined). */
void
bulk_arm_confinement(void)
{
	confine_armed = confine_shop != 0;
}

void
bulk_disarm_confinement(void)
{
	confine_armed = false;
}

/*
 * The engine's statements scan shards[i] wherever they name shells[i] (n 0:
 * none).  The arrays stay the caller's; citus.c checks that each shard has
 * its table's columns, at their numbers, and clears the map at the end of
 * its call (and shop_xact_callback at the end of the transaction).
 */
void
bulk_confine_shards(const Oid *shells, const Oid *shards, int n)
{
	shard_shells = shells;
	shard_shards = shards;
	shard_count = n;
}

/* The shard of relid the statements scan, or relid */
static Oid
shard_of(Oid relid)
{
	for (int i = 0; i < shard_count; i++)
		if (shard_shells[i] == relid)
			return shard_shards[i];
	return relid;
}

typedef struct ConfineContext
{
	int64		shop;
	Oid			namespace;		/* bulkorder */
	Oid			default_fn;		/* bulkorder.session_shop_id() */
	Oid			check_fn;		/* bulkorder_catalog.same_shop(bigint, bigint) */
} ConfineContext;

/* shop_id's column number when relid is a shop table, else 0 */
static AttrNumber
shop_column(Oid relid, ConfineContext *ctx)
{
	AttrNumber	attno;

	if (get_rel_namespace(relid) != ctx->namespace || get_rel_relkind(relid) != RELKIND_RELATION)
		return InvalidAttrNumber;
	attno = get_attnum(relid, "shop_id");
	if (attno != InvalidAttrNumber && get_atttype(relid, attno) != INT8OID)
		return InvalidAttrNumber;
	return attno;
}

static Const *
shop_const(ConfineContext *ctx)
{
	return makeConst(INT8OID, -1, InvalidOid, sizeof(int64), Int64GetDatum(ctx->shop), false,
					 FLOAT8PASSBYVAL);
}

/* rti.shop_id = <shop> */
static Expr *
shop_qual(int rti, AttrNumber attno, ConfineContext *ctx)
{
	OpExpr	   *op = (OpExpr *) make_opclause(INT8_EQ_OPERATOR, BOOLOID, false,
											  (Expr *) makeVar(rti, attno, INT8OID, -1, InvalidOid, 0),
											  (Expr *) shop_const(ctx), InvalidOid, InvalidOid);

	op->opfuncid = F_INT8EQ;
	return (Expr *) op;
}

/*
 * Where a qual restricting one range table entry goes in a join tree.
 * NOT_HERE: the entry is not under the node; PLACED: the qual is in;
 * PENDING: the entry is under the node on sides that are never
 * null-extended, so restricting the node's rows restricts the entry's: the
 * node's parent places it.
 */
typedef enum QualPlace
{
	QUAL_NOT_HERE,
	QUAL_PLACED,
	QUAL_PENDING
} QualPlace;

static QualPlace place_qual(Node **node, int rti, Expr *qual);

/* A FULL JOIN's side: the side becomes a FROM item of its own with the qual */
static QualPlace
wrap_side(Node **side, int rti, Expr *qual)
{
	QualPlace	r = place_qual(side, rti, qual);

	if (r == QUAL_PENDING)
	{
		*side = (Node *) makeFromExpr(list_make1(*side), (Node *) qual);
		r = QUAL_PLACED;
	}
	return r;
}

/*
 * Give the range table entry rti the qual where it is scanned, without
 * changing what the statement means: in the WHERE of the FROM list that
 * holds it, or in the ON of the innermost join where restricting the join's
 * rows restricts only the entry's -- an inner join, or the side of an outer
 * join that is null-extended (so a LEFT JOIN's nullable side stays
 * nullable).  The planner pushes such a qual down to the scan itself.  The
 * join tree keeps its shape (no FROM item is nested in a join: Citus's
 * planner walks none), except for a side of a FULL JOIN, which only a FROM
 * item of its own can restrict.
 */
static QualPlace
place_qual(Node **node, int rti, Expr *qual)
{
	if (*node == NULL)
		return QUAL_NOT_HERE;
	if (IsA(*node, RangeTblRef))
		return ((RangeTblRef *) *node)->rtindex == rti ? QUAL_PENDING : QUAL_NOT_HERE;
	if (IsA(*node, FromExpr))
	{
		FromExpr   *f = (FromExpr *) *node;
		ListCell   *lc;

		foreach(lc, f->fromlist)
		{
			QualPlace	r = place_qual((Node **) &lfirst(lc), rti, qual);

			if (r == QUAL_PENDING)
			{
				f->quals = (Node *) make_and_qual(f->quals, (Node *) qual);
				return QUAL_PLACED;
			}
			if (r == QUAL_PLACED)
				return r;
		}
		return QUAL_NOT_HERE;
	}
	if (IsA(*node, JoinExpr))
	{
		JoinExpr   *j = (JoinExpr *) *node;
		QualPlace	r;
		bool		left;

		if (j->jointype == JOIN_FULL)
		{
			r = wrap_side(&j->larg, rti, qual);
			return r != QUAL_NOT_HERE ? r : wrap_side(&j->rarg, rti, qual);
		}
		r = place_qual(&j->larg, rti, qual);
		left = r != QUAL_NOT_HERE;
		if (!left)
			r = place_qual(&j->rarg, rti, qual);
		if (r != QUAL_PENDING)
			return r;
		/* the side a LEFT or RIGHT JOIN keeps whole: its parent restricts it */
		if ((j->jointype == JOIN_LEFT && left) || (j->jointype == JOIN_RIGHT && !left))
			return QUAL_PENDING;
		j->quals = (Node *) make_and_qual(j->quals, (Node *) qual);
		return QUAL_PLACED;
	}
	elog(ERROR, "bulkorder: unrecognized join tree node %d", (int) nodeTag(*node));
	return QUAL_NOT_HERE;
}

/*
 * The shop_id an INSERT or UPDATE writes: the column's default (the
 * session's shop) becomes the job's shop; a value the statement gives
 * itself is checked against it.
 */
static void
confine_written_shop(List *targetlist, AttrNumber attno, ConfineContext *ctx)
{
	ListCell   *lc;

	foreach(lc, targetlist)
	{
		TargetEntry *tle = lfirst_node(TargetEntry, lc);

		if (tle->resjunk || tle->resno != attno)
			continue;
		if (IsA(tle->expr, FuncExpr) && ((FuncExpr *) tle->expr)->funcid == ctx->default_fn)
			tle->expr = (Expr *) shop_const(ctx);
		else if (IsA(tle->expr, Const) && !((Const *) tle->expr)->constisnull &&
				 DatumGetInt64(((Const *) tle->expr)->constvalue) == ctx->shop)
			continue;
		else
			tle->expr = (Expr *) makeFuncExpr(ctx->check_fn, INT8OID,
											  list_make2(tle->expr, shop_const(ctx)),
											  InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL);
	}
}

static void
confine_query(Query *query, ConfineContext *ctx)
{
	int			rti = 0;
	ListCell   *lc;

	foreach(lc, query->rtable)
	{
		RangeTblEntry *rte = lfirst_node(RangeTblEntry, lc);
		AttrNumber	attno;

		rti++;
		if (rte->rtekind != RTE_RELATION)
			continue;
		if ((attno = shop_column(rte->relid, ctx)) == InvalidAttrNumber)
		{
			/* another table: on Citus, a reference table's local copy */
			rte->relid = shard_of(rte->relid);
			continue;
		}
		/* the same columns, at the same numbers: the statement reads as written */
		rte->relid = shard_of(rte->relid);
		if (rti == query->resultRelation)
		{
			if (query->commandType == CMD_MERGE)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("MERGE into a shop table is not supported in a bulk operation"),
						 errhint("Write the change as INSERT, UPDATE or DELETE.")));
			if (query->commandType == CMD_UPDATE || query->commandType == CMD_DELETE)
				query->jointree->quals = (Node *) make_and_qual(query->jointree->quals,
																(Node *) shop_qual(rti, attno, ctx));
			if (query->commandType == CMD_UPDATE || query->commandType == CMD_INSERT)
				confine_written_shop(query->targetList, attno, ctx);
			if (query->onConflict && query->onConflict->action == ONCONFLICT_UPDATE)
				confine_written_shop(query->onConflict->onConflictSet, attno, ctx);
			continue;
		}
		/* not in the join tree: an INSERT's EXCLUDED row, a view's OLD/NEW */
		(void) place_qual((Node **) &query->jointree, rti, shop_qual(rti, attno, ctx));
	}
}

static bool
confine_walker(Node *node, ConfineContext *ctx)
{
	if (node == NULL)
		return false;
	if (IsA(node, Query))
	{
		confine_query((Query *) node, ctx);
		return query_tree_walker((Query *) node, confine_walker, (void *) ctx, 0);
	}
	return expression_tree_walker(node, confine_walker, (void *) ctx);
}

static PlannedStmt *
shop_planner(Query *parse, const char *query_string, int cursorOptions,
			 ParamListInfo boundParams)
{
	if (confine_armed && confine_shop != 0)
	{
		ConfineContext ctx;
		Oid			argtypes[2] = {INT8OID, INT8OID};

		ctx.shop = confine_shop;
		ctx.namespace = get_namespace_oid("bulkorder", false);
		ctx.default_fn = LookupFuncName(list_make2(makeString("bulkorder"), makeString("session_shop_id")),
										0, NULL, true);
		ctx.check_fn = LookupFuncName(list_make2(makeString("bulkorder_catalog"), makeString("same_shop")),
									  2, argtypes, false);
		(void) confine_walker((Node *) parse, &ctx);
	}
	if (prev_planner_hook)
		return prev_planner_hook(parse, query_string, cursorOptions, boundParams);
	return standard_planner(parse, query_string, cursorOptions, boundParams);
}

/* the engine's statement runs: what it plans from now on is not its own */
static void
shop_executor_start(QueryDesc *queryDesc, int eflags)
{
	confine_armed = false;
	if (prev_executor_start_hook)
		prev_executor_start_hook(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);
}

/* an error never leaves the next transaction confined */
static void
shop_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_COMMIT ||
		event == XACT_EVENT_PARALLEL_ABORT || event == XACT_EVENT_PREPARE)
	{
		confine_shop = 0;
		confine_armed = false;
		shard_count = 0;
	}
}

static void
shop_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					  SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		confine_armed = false;
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
	prev_planner_hook = planner_hook;
	planner_hook = shop_planner;
	prev_executor_start_hook = ExecutorStart_hook;
	ExecutorStart_hook = shop_executor_start;
	RegisterXactCallback(shop_xact_callback, NULL);
	RegisterSubXactCallback(shop_subxact_callback, NULL);
}

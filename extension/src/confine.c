/*-------------------------------------------------------------------------
 *
 * confine.c
 *	  The confinement of every statement the engine runs to the job's shop.
 *
 * Every statement the engine runs for a job -- its own and
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
 * the engine keeps its plans per shop (plan_cache.c).
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
 * The shop a call acts on, and who may act on it, are shop.c's.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_operator_d.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "fmgr.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "optimizer/planner.h"
#include "parser/parse_func.h"
#include "parser/parsetree.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"

#include "bulkorder.h"

PG_FUNCTION_INFO_V1(bulkorder_same_shop);

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
						 bulk_errhint(BMSG_MERGE_UNSUPPORTED, NULL)));
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
				 bulk_errdetail(BMSG_SHOP_CONFINED, NULL),
				 bulk_errhint(BMSG_SHOP_LEAVE_SHOP_ID, NULL)));
	PG_RETURN_INT64(shop);
}

void
bulk_confine_init(void)
{
	prev_planner_hook = planner_hook;
	planner_hook = shop_planner;
	prev_executor_start_hook = ExecutorStart_hook;
	ExecutorStart_hook = shop_executor_start;
	RegisterXactCallback(shop_xact_callback, NULL);
	RegisterSubXactCallback(shop_subxact_callback, NULL);
}

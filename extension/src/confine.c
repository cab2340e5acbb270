/*-------------------------------------------------------------------------
 *
 * confine.c
 *	  The confinement of every statement the engine runs to the job's shop.
 *
 * Every statement the engine runs for a job -- its own and
 * the fragments of shipped and shop-defined operations alike -- is planned
 * with the job's shop written into it: the planner hook below walks the
 * rewritten query (views expanded, every subquery, CTE and sub-select) and
 * gives each scan of a shop table the qual shop_id = <the shop>, at the
 * scan itself (an outer join's nullable side stays nullable), gives an
 * UPDATE or DELETE of one the same qual, and makes a row an INSERT or
 * UPDATE writes carry the shop (the column's default becomes the shop
 * itself; a value the statement gives is checked by
 * bulkorder_catalog.same_shop).  A fragment therefore cannot read or change
 * another shop's rows, whether or not it names shop_id, and every statement
 * is a single-shop statement that Citus can route.  The shop is a constant:
 * the engine keeps its plans per shop (plan_cache.c).
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
 * Give the range table entry rti the qual where it is scanned: its
 * reference in the join tree becomes a FROM item of its own with the qual,
 * so that a LEFT JOIN's nullable side stays nullable.  False when rti is
 * not in the join tree.
 */
static bool
wrap_reference(Node **node, int rti, Expr *qual)
{
	if (*node == NULL)
		return false;
	if (IsA(*node, RangeTblRef))
	{
		if (((RangeTblRef *) *node)->rtindex != rti)
			return false;
		*node = (Node *) makeFromExpr(list_make1(*node), (Node *) qual);
		return true;
	}
	if (IsA(*node, FromExpr))
	{
		ListCell   *lc;

		foreach(lc, ((FromExpr *) *node)->fromlist)
			if (wrap_reference((Node **) &lfirst(lc), rti, qual))
				return true;
		return false;
	}
	if (IsA(*node, JoinExpr))
	{
		JoinExpr   *j = (JoinExpr *) *node;

		return wrap_reference(&j->larg, rti, qual) || wrap_reference(&j->rarg, rti, qual);
	}
	elog(ERROR, "bulkorder: unrecognized join tree node %d", (int) nodeTag(*node));
	return false;
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
		if (rte->rtekind != RTE_RELATION || (attno = shop_column(rte->relid, ctx)) == InvalidAttrNumber)
			continue;
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
		(void) wrap_reference((Node **) &query->jointree, rti, shop_qual(rti, attno, ctx));
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

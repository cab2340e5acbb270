/*-------------------------------------------------------------------------
 *
 * compile.c
 *	  What define_operation asks of the engine: each piece of a declaration
 *	  parsed where the engine puts it (check_fragment), and every statement
 *	  the engine would compose from the declaration compiled once and
 *	  thrown away (compile_operation).
 *
 * A new declaration goes through the very composition a job uses
 * (statements.c, revert_statements.c), so a broken statement is rejected
 * when it is declared, with the statement's own error, not at its first
 * job.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "fmgr.h"
#include "parser/parser.h"
#include "utils/builtins.h"
#include "utils/plancache.h"

#include "bulkorder_statements.h"

PG_FUNCTION_INFO_V1(bulkorder_compile_operation);
PG_FUNCTION_INFO_V1(bulkorder_in_extension_script);
PG_FUNCTION_INFO_V1(bulkorder_check_fragment);

/* Names the statement being compiled in the error of a broken one. */
static void
compile_error_context(void *arg)
{
	errcontext("%s", (const char *) arg);
}

/*
 * Parse, analyse and plan one statement as the engine would (a generic
 * plan), then forget it.
 */
static void
compile_statement(const char *sql, int nargs, Oid *argtypes, const char *what)
{
	ErrorContextCallback callback;
	SPIPlanPtr	plan;
	CachedPlan *cplan;

	callback.callback = compile_error_context;
	callback.arg = (void *) what;
	callback.previous = error_context_stack;
	error_context_stack = &callback;

	plan = SPI_prepare_cursor(sql, nargs, argtypes, CURSOR_OPT_GENERIC_PLAN);
	if (plan == NULL)
		elog(ERROR, "bulkorder: could not prepare statement (%s): %s",
			 SPI_result_code_string(SPI_result), sql);
	bulk_check_one_statement(plan, what);
	/*
	 * On a Citus coordinator the statement runs on the shops' nodes, planned
	 * against their shards (citus.c): here, where no shard is, it is
	 * analysed only, and what it reads must be on every node.
	 */
	if (bulk_citus_distributed())
		bulk_citus_check_statement(plan, what);
	else
	{
		/* planned as a job's statement is: confined to a shop (confine.c) */
		bulk_arm_confinement();
		cplan = SPI_plan_get_cached_plan(plan);
		bulk_disarm_confinement();
		if (cplan)
			ReleaseCachedPlan(cplan, NULL);
	}
	SPI_freeplan(plan);

	error_context_stack = callback.previous;
}

/* A piece of a declaration being checked, for its error context. */
typedef struct FragmentCheck
{
	const char *opname;
	const char *piece;
	const char *query;			/* the piece in its context */
} FragmentCheck;

static void
fragment_error_callback(void *arg)
{
	FragmentCheck *check = (FragmentCheck *) arg;
	int			pos = geterrposition();

	/* a syntax error's position is in the piece's context, not the call */
	if (pos > 0)
	{
		errposition(0);
		internalerrposition(pos);
		internalerrquery(check->query);
	}
	errcontext("%s of operation %s", check->piece, check->opname);
}

/*
 * bulkorder_catalog.check_fragment(opname, piece, kind, fragment): refuse
 * (22023) a piece of a declaration that forms more than one statement where
 * the engine composes it.  The engine splices each piece into a statement
 * of its own making; a piece that ends that statement (a semicolon outside
 * its parentheses) would make SPI run further statements, outside the job's
 * items, counts and locks.  The piece is parsed, with PostgreSQL's raw
 * parser (no catalogue needed, so this holds while check_function_bodies is
 * off too), in the context its kind gives it:
 *	 expression  a condition or an image: SELECT (<piece>)
 *	 set_clause  UPDATE x SET <piece>
 *	 ctes        CTEs without WITH (apply_sql): WITH <piece> SELECT 1
 *	 cte         one CTE's body (an effect): WITH x AS (<piece>) SELECT 1
 *	 query       a lock statement: SELECT count(*) FROM (<piece>) AS locked
 *	 table       target_join's table: SELECT 1 FROM <piece> AS x
 * as statements.c composes them, without line breaks around the piece (a
 * piece ending in a line comment breaks its statement there too).  A piece
 * that does not parse in its context raises its syntax error, naming the
 * piece.
 */
Datum
bulkorder_check_fragment(PG_FUNCTION_ARGS)
{
	FragmentCheck check;
	const char *kind = text_to_cstring(PG_GETARG_TEXT_PP(2));
	char	   *fragment = text_to_cstring(PG_GETARG_TEXT_PP(3));
	const char *format;
	ErrorContextCallback callback;
	List	   *statements;

	check.opname = text_to_cstring(PG_GETARG_TEXT_PP(0));
	check.piece = text_to_cstring(PG_GETARG_TEXT_PP(1));
	if (strcmp(kind, "expression") == 0)
		format = "SELECT (%s)";
	else if (strcmp(kind, "set_clause") == 0)
		format = "UPDATE bulkorder_fragment AS t SET %s";
	else if (strcmp(kind, "ctes") == 0)
		format = "WITH %s SELECT 1";
	else if (strcmp(kind, "cte") == 0)
		format = "WITH bulkorder_fragment AS (%s) SELECT 1";
	else if (strcmp(kind, "query") == 0)
		format = "SELECT count(*) FROM (%s) AS locked";
	else if (strcmp(kind, "table") == 0)
		format = "SELECT 1 FROM %s AS bulkorder_fragment";
	else
		elog(ERROR, "bulkorder: unknown kind of fragment \"%s\"", kind);
	check.query = psprintf(format, fragment);

	callback.callback = fragment_error_callback;
	callback.arg = &check;
	callback.previous = error_context_stack;
	error_context_stack = &callback;
	statements = raw_parser(check.query, RAW_PARSE_DEFAULT);
	error_context_stack = callback.previous;

	if (list_length(statements) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: %s forms more than one statement", check.opname, check.piece),
				 bulk_errdetail(BMSG_FRAGMENT_STATEMENTS, psprintf("%d", list_length(statements))),
				 bulk_errhint(BMSG_FRAGMENT_ONE_STATEMENT, NULL)));
	PG_RETURN_VOID();
}

/*
 * Compile the statements of the operation's revert, both directions (the
 * undo, which withdraws the job's outbox rows, and the revert of a revert,
 * which applies the operation again with its effects), when revert_job would
 * build them: a reversible operation whose change is its own fields
 * (set_clause) or that declares its revert apply_sql.
 */
static void
compile_revert(const char *page, const char *operation, const char *opname)
{
	Oid			types[3] = {INT8ARRAYOID, JSONBOID, INT8OID};
	BulkRevertDeclaration r;

	if (!bulk_read_revert_declaration(page, operation, &r) ||
		!r.reversible || !(r.own_fields || r.apply_sql != NULL))
		return;

	for (int reapply = 0; reapply <= 1; reapply++)
	{
		BulkStatements st;
		const char *which = reapply ? "the revert of a revert" : "the revert";

		bulk_compose_revert(page, operation, reapply, &st);
		if (st.prelock)
			compile_statement(st.prelock, 2, types,
							  psprintf("the prelock statement (revert prelock_sql) of %s of operation %s",
									   which, opname));
		compile_statement(st.lock, 1, types,
						  psprintf("the lock statement of %s of operation %s", which, opname));
		if (st.extra_lock)
			compile_statement(st.extra_lock, 2, types,
							  psprintf("the lock statement (revert lock_sql) of %s of operation %s",
									   which, opname));
		compile_statement(st.preview, 2, types,
						  psprintf("the check statement (revert condition, rules, before_sql, visible_condition) of %s of operation %s",
								   which, opname));
		compile_statement(st.run, 3, types,
						  psprintf("the change statement (revert apply_sql) of %s of operation %s",
								   which, opname));
	}
}

/*
 * bulkorder_catalog.compile_operation(page, operation): compile every
 * statement the engine would build for the declaration as it is now in the
 * catalogue (lock statements, check/preview, run, whole-call checks).  A
 * broken fragment raises the statement's own error, naming the statement.
 */
Datum
bulkorder_compile_operation(PG_FUNCTION_ARGS)
{
	char	   *page = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *operation = text_to_cstring(PG_GETARG_TEXT_PP(1));
	Oid			types[3] = {INT8ARRAYOID, JSONBOID, INT8OID};
	Oid			check_types[1] = {JSONBOID};
	BulkStatements st;
	BulkOperation *op;
	char	   *opname = psprintf("%s/%s", page, operation);
	/* compiled as for a job of shop 1: the catalogue is every shop's */
	int64		previous = bulk_confine(1);

	SPI_connect();
	op = bulk_compose_operation(page, operation, &st);
	if (st.prelock)
		compile_statement(st.prelock, 2, types,
						  psprintf("the prelock statement of operation %s", opname));
	if (st.lock)
		compile_statement(st.lock, 1, types,
						  psprintf("the lock statement of operation %s", opname));
	if (st.extra_lock)
		compile_statement(st.extra_lock, 2, types,
						  psprintf("the lock statement (lock_sql) of operation %s", opname));
	compile_statement(st.preview, 2, types,
					  psprintf("the check statement (rules, before image) of operation %s", opname));
	compile_statement(st.run, 3, types,
					  psprintf("the change statement (set_clause or apply_sql, effects) of operation %s", opname));
	if (st.fail)
		compile_statement(st.fail, 3, types,
						  psprintf("the statement recording the failures (rules, before image) of operation %s", opname));
	/* as params.c runs them */
	for (int i = 0; i < op->nparam_checks; i++)
		compile_statement(psprintf("SELECT coalesce((%s), false) FROM (SELECT $1::jsonb AS p) AS prm",
								   op->param_check_sql[i]),
						  1, check_types,
						  psprintf("whole-call check %d of operation %s", i + 1, opname));
	compile_revert(page, operation, opname);
	SPI_finish();
	bulk_confine(previous);
	PG_RETURN_VOID();
}

/*
 * bulkorder_catalog.in_extension_script(): true while CREATE EXTENSION
 * bulkorder or ALTER EXTENSION bulkorder UPDATE runs its script, i.e. when
 * define_operation declares a shipped operation.
 */
Datum
bulkorder_in_extension_script(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(creating_extension &&
				   CurrentExtensionObject == get_extension_oid("bulkorder", true));
}

/*-------------------------------------------------------------------------
 *
 * bulkorder_statements.h
 *	  The statements the engine composes from a catalogued operation, and
 *	  what each of them returns: the contract between their composition and
 *	  their readers.
 *
 * An operation is data: bulkorder_catalog.operations and its rule tables.
 * Its way to a job's chunk is one direction, one file a step:
 *
 *	declaration.c		reads the declaration, once, into a BulkDeclaration
 *						(and a revert's into a BulkRevertDeclaration)
 *	statements.c		composes the job's statements from it (BulkStatements)
 *	revert_statements.c	composes a revert's statements (revert.c runs them)
 *	plan_cache.c		prepares and keeps their plans (a BulkOperation) per
 *						backend, language and shop
 *	compile.c			compiles them once, when define_operation declares
 *						the operation, and then forgets them
 *	engine.c, jobs.c	run them and read their results, by the column
 *						names below, never by a number of their own
 *
 * Every statement takes the same parameters (a lock statement and the
 * preview the first two, the run and the fail statement all three):
 *	$1	bigint[]	the chunk's keys, sorted and distinct (BulkTargets)
 *	$2	jsonb		the job's params, normalized (params.c); a revert's are
 *					{"job_id", "operation", "reapply", "params"}
 *	$3	bigint		the job's id, for its items
 *
 *-------------------------------------------------------------------------
 */
#ifndef BULKORDER_STATEMENTS_H
#define BULKORDER_STATEMENTS_H

#include "bulkorder.h"
#include "lib/stringinfo.h"

/* ----------------------------------------------------------------
 * What each statement returns
 * ----------------------------------------------------------------
 */

/*
 * A lock statement (prelock, lock, extra_lock): one row, one column, the
 * number of rows it locked (counted, so that nothing is materialized).
 */
#define BULK_LOCK_COL_LOCKED		1

/*
 * The preview: one row per key, in key order, exactly the result of
 * preview_bulk and preview_revert (bulk_preview_targets copies its rows
 * into that result as they are).
 */
#define BULK_PREVIEW_COL_TARGET		1	/* bigint */
#define BULK_PREVIEW_COL_OK			2	/* boolean: passes every check */
#define BULK_PREVIEW_COL_ERROR_CODE	3	/* text: the first check it fails */
#define BULK_PREVIEW_COL_MESSAGE	4	/* text: that check's message */
#define BULK_PREVIEW_NCOLS			4

/*
 * The run of an operation with apply_sql, and of every revert: one row
 * counting the items it wrote, one per key.
 */
#define BULK_RUN_COL_SUCCEEDED		1	/* bigint: items ok */
#define BULK_RUN_COL_FAILED			2	/* bigint: items failed */
#define BULK_RUN_COL_NOT_APPLIED	3	/* bigint: ok, yet no row of applied */

/* ... as the last SELECT of the statement, over items(ok, done) */
#define BULK_SQL_RUN_RESULT \
	" SELECT count(*) FILTER (WHERE ok), count(*) FILTER (WHERE NOT ok)," \
	" count(*) FILTER (WHERE ok AND NOT done) FROM items"

/*
 * The run of an operation with a set_clause (the pipeline: it has a fail
 * statement): one row, the targets it changed, each with an ok item.
 */
#define BULK_PIPELINE_COL_CHANGED	1	/* bigint: how many */
#define BULK_PIPELINE_COL_TARGETS	2	/* bigint[]: which, in any order */

/*
 * The fail statement of the pipeline, given ($1) the keys the run did not
 * change: one row, the failed items it wrote, and the keys that pass every
 * check now (changed by another transaction after the run's snapshot: the
 * engine runs the run again for those).
 */
#define BULK_FAIL_COL_FAILED		2	/* bigint: items failed */
#define BULK_FAIL_COL_PASSING		3	/* bigint[] or NULL: run these again */

/* ----------------------------------------------------------------
 * A declaration, as declaration.c reads it
 * ----------------------------------------------------------------
 */

/* Rules in their declared order, messages in the session's language. */
typedef struct BulkRules
{
	int			n;
	char	  **codes;
	char	  **conditions;
	char	  **messages;
} BulkRules;

typedef struct BulkDeclaration
{
	/* the page: bulkorder_catalog.pages */
	char	   *table;			/* target_table */
	char	   *key;			/* key_column, quoted as an identifier */
	char	   *visible;		/* visible_condition over t */
	char	   *page_name;		/* display names in the session's language */
	char	   *op_name;
	/* the operation: bulkorder_catalog.operations */
	Jsonb	   *param_spec;
	char	  **cols;			/* changed_columns */
	int			ncols;
	char	   *set_clause;		/* exactly one of set_clause and apply_sql */
	char	   *apply_sql;
	char	   *before_sql;		/* NULL: the changed columns are the image */
	char	  **effects;
	int			neffects;
	char	   *lock_sql;
	char	   *prelock_sql;
	char	   *join[4];		/* target_join: table, alias, key, on (table NULL: none) */
	BulkRules	rules;			/* operation_rules */
	/* operation_param_checks: the whole-call checks (params.c runs them) */
	int			nchecks;
	char	  **check_sql;
	char	  **check_sqlstate;
	char	  **check_message;
	char	  **check_hint;		/* '' for none */
} BulkDeclaration;

/* The revert_* columns of an operation's row */
typedef struct BulkRevertDeclaration
{
	bool		reversible;
	char	   *irreversible_reason;
	bool		own_fields;		/* the operation's change is a set_clause */
	char	   *condition;
	char	   *before_sql;
	char	   *apply_sql;
	char	   *prelock_sql;
	char	   *lock_sql;
	BulkRules	rules;
	char	   *visible_condition;
} BulkRevertDeclaration;

/* declaration.c */
extern void bulk_read_declaration(const char *page, const char *operation,
								  BulkDeclaration *d);
extern bool bulk_read_revert_declaration(const char *page, const char *operation,
										 BulkRevertDeclaration *r);

/* ----------------------------------------------------------------
 * The statements composed from one declaration
 * ----------------------------------------------------------------
 */
typedef struct BulkStatements
{
	char	   *prelock;		/* NULL: none declared */
	char	   *lock;			/* NULL: the run locks the page's rows */
	char	   *extra_lock;		/* NULL: none declared */
	char	   *preview;
	char	   *run;
	char	   *fail;			/* the run's failures, when it records only changes */
} BulkStatements;

/* statements.c: the job's statements, and the pieces a revert's share */
extern BulkOperation *bulk_compose_operation(const char *page, const char *operation,
											 BulkStatements *st);
extern void bulk_append_item_message(StringInfo buf, char **codes, char **messages,
									 int nrules);
extern void bulk_append_image(StringInfo buf, const char *alias, char **cols, int ncols);
extern void bulk_append_rule_cases(StringInfo buf, char **codes, char **conditions,
								   int nrules);
extern void bulk_append_target_join(StringInfo buf, char **join, const char *target);
extern void bulk_append_effects(StringInfo buf, char **effects, int neffects);
extern void bulk_set_statements(BulkStatements *st, const char *table, const char *key,
								const char *prelock_sql, const char *lock_sql,
								char *preview, char *run, char *fail);

/* revert_statements.c */
extern BulkOperation *bulk_compose_revert(const char *page, const char *operation,
										  bool reapply, BulkStatements *st);

/* plan_cache.c */
extern void bulk_check_one_statement(SPIPlanPtr plan, const char *what);

#endif							/* BULKORDER_STATEMENTS_H */

/*-------------------------------------------------------------------------
 *
 * plan_cache.c
 *	  The operation a job runs, with its statements' plans prepared and
 *	  kept: bulk_lookup_operation, bulk_lookup_revert and
 *	  bulk_lookup_job_operation.
 *
 * Each lookup reads the operation's declaration (one small query,
 * declaration.c), composes the statements' text (statements.c,
 * revert_statements.c), and reuses the kept plans when the text is the one
 * they were prepared from.  Comparing the text, not a version number, means
 * an ALTER EXTENSION UPDATE that changes a rule can never run a stale plan.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "bulkorder_statements.h"

/*
 * The kept plans are the job's shop's: the shop is a constant in them
 * (confine.c), so they are kept per shop.
 */
#define BULK_PLAN_KEY_SIZE (2 * NAMEDATALEN + 48)

typedef struct PlanCacheEntry
{
	char		key[BULK_PLAN_KEY_SIZE];	/* page/operation/language/shop */
	char	   *source;			/* all statements' text, in CacheMemoryContext */
	SPIPlanPtr	pre_lock_plan;
	SPIPlanPtr	lock_plan;
	SPIPlanPtr	extra_lock_plan;
	SPIPlanPtr	preview_plan;
	SPIPlanPtr	run_plan;
	SPIPlanPtr	fail_plan;
} PlanCacheEntry;

static HTAB *plan_cache = NULL;

/* the shop the plans are for: the caller has confined the engine to it */
static int64
confined_shop(void)
{
	int64		shop = bulk_confined_shop();

	if (shop == 0)
		elog(ERROR, "bulkorder: an operation was looked up outside of a shop");
	return shop;
}

static void
ensure_plan_cache(void)
{
	HASHCTL		ctl;

	if (plan_cache)
		return;
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(((PlanCacheEntry *) 0)->key);
	ctl.entrysize = sizeof(PlanCacheEntry);
	plan_cache = hash_create("bulkorder plan cache", 64, &ctl, HASH_ELEM | HASH_STRINGS);
}

/*
 * A composed statement must be one statement: SPI would run every statement
 * of the text, and those after the first outside the job's items and
 * counts.  define_operation refuses a piece that would split its statement
 * (check_fragment), naming it; this is the last guard, for a catalogue row
 * changed behind its back.  what names the statement.
 */
void
bulk_check_one_statement(SPIPlanPtr plan, const char *what)
{
	int			n = list_length(SPI_plan_get_plan_sources(plan));

	if (n != 1)
	{
		SPI_freeplan(plan);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s is %d statements, not one", what, n),
				 bulk_errdetail(BMSG_STATEMENT_NOT_ONE, NULL),
				 bulk_errhint(BMSG_DECLARE_AGAIN, NULL)));
	}
}

static SPIPlanPtr
prepare_kept(const char *sql, int nargs, Oid *argtypes, const char *what)
{
	/*
	 * Always the generic plan: a custom plan would be planned with the
	 * chunk's key array as a constant, and estimating a million-element
	 * "= ANY" costs hundreds of megabytes and most of a second.  The keys
	 * are always probed through the key's index, whatever their number.
	 */
	SPIPlanPtr	plan = SPI_prepare_cursor(sql, nargs, argtypes, CURSOR_OPT_GENERIC_PLAN);

	if (plan == NULL)
		elog(ERROR, "bulkorder: could not prepare statement (%s): %s",
			 SPI_result_code_string(SPI_result), sql);
	bulk_check_one_statement(plan, what);
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "bulkorder: SPI_keepplan failed");
	return plan;
}

/* Free the kept plans of a cache entry (those prepared so far). */
static void
free_entry_plans(PlanCacheEntry *entry)
{
	SPIPlanPtr *plans[] = {&entry->pre_lock_plan, &entry->lock_plan, &entry->extra_lock_plan,
	&entry->preview_plan, &entry->run_plan, &entry->fail_plan};

	for (int i = 0; i < lengthof(plans); i++)
	{
		if (*plans[i])
			SPI_freeplan(*plans[i]);
		*plans[i] = NULL;
	}
}

/*
 * Give op the kept plans of statements st, under cache_key: prepared once
 * per backend, again only when the catalogue's text for them changed.
 */
static BulkOperation *
attach_kept_plans(BulkOperation *op, BulkStatements *st, const char *cache_key)
{
	StringInfoData source;
	PlanCacheEntry *entry;
	bool		found;

	initStringInfo(&source);
	appendStringInfo(&source, "%s\n%s\n%s\n%s\n%s\n%s", st->prelock ? st->prelock : "",
					 st->lock ? st->lock : "", st->extra_lock ? st->extra_lock : "", st->preview, st->run,
					 st->fail ? st->fail : "");

	ensure_plan_cache();
	entry = hash_search(plan_cache, cache_key, HASH_ENTER, &found);
	if (found && strcmp(entry->source, source.data) != 0)
	{
		/* the catalogue changed under us: forget the old plans */
		free_entry_plans(entry);
		pfree(entry->source);
		found = false;
	}
	if (!found)
	{
		Oid			types[3] = {INT8ARRAYOID, JSONBOID, INT8OID};
		char	   *what = psprintf("a statement of operation %s/%s composed from the catalogue",
									op->page, op->operation);

		/* leave the entry consistent if a prepare fails */
		entry->source = NULL;
		entry->pre_lock_plan = entry->lock_plan = entry->extra_lock_plan = NULL;
		entry->preview_plan = entry->run_plan = entry->fail_plan = NULL;
		PG_TRY();
		{
			if (st->prelock)
				entry->pre_lock_plan = prepare_kept(st->prelock, 2, types, what);
			if (st->lock)
				entry->lock_plan = prepare_kept(st->lock, 1, types, what);
			if (st->extra_lock)
				entry->extra_lock_plan = prepare_kept(st->extra_lock, 2, types, what);
			entry->preview_plan = prepare_kept(st->preview, 2, types, what);
			entry->run_plan = prepare_kept(st->run, 3, types, what);
			if (st->fail)
				entry->fail_plan = prepare_kept(st->fail, 3, types, what);
		}
		PG_CATCH();
		{
			/* the plans kept before the failing one live in CacheMemoryContext */
			free_entry_plans(entry);
			hash_search(plan_cache, cache_key, HASH_REMOVE, NULL);
			PG_RE_THROW();
		}
		PG_END_TRY();
		entry->source = MemoryContextStrdup(CacheMemoryContext, source.data);
	}

	op->pre_lock_plan = entry->pre_lock_plan;
	op->lock_plan = entry->lock_plan;
	op->extra_lock_plan = entry->extra_lock_plan;
	op->preview_plan = entry->preview_plan;
	op->run_plan = entry->run_plan;
	op->fail_plan = entry->fail_plan;
	return op;
}

BulkOperation *
bulk_lookup_operation(const char *page, const char *operation)
{
	BulkStatements st;
	BulkOperation *op = bulk_compose_operation(page, operation, &st);
	char		cache_key[BULK_PLAN_KEY_SIZE];

	snprintf(cache_key, sizeof(cache_key), "%s/%s/%d/%lld", page, operation, bulkorder_language,
			 (long long) confined_shop());
	return attach_kept_plans(op, &st, cache_key);
}

static bool
revert_param_bool(Jsonb *params, const char *key)
{
	JsonbValue	buf;
	JsonbValue *v = getKeyJsonValueFromContainer(&params->root, key, strlen(key), &buf);

	return v != NULL && v->type == jbvBool && v->val.boolean;
}

static char *
revert_param_text(Jsonb *params, const char *key)
{
	JsonbValue	buf;
	JsonbValue *v = getKeyJsonValueFromContainer(&params->root, key, strlen(key), &buf);

	if (v == NULL)
		return NULL;
	if (v->type == jbvString)
		return pnstrdup(v->val.string.val, v->val.string.len);
	if (v->type == jbvNumeric)
		return DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
	return NULL;
}

/*
 * The revert whose params (revert_statements.c) name the job it undoes and
 * that job's operation.
 */
BulkOperation *
bulk_lookup_revert(const char *page, Jsonb *revert_params)
{
	char	   *operation = revert_param_text(revert_params, "operation");
	char	   *job_text = revert_param_text(revert_params, "job_id");
	bool		reapply = revert_param_bool(revert_params, "reapply");
	BulkStatements st;
	BulkOperation *op;
	char		cache_key[BULK_PLAN_KEY_SIZE];

	if (operation == NULL || job_text == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("malformed revert job parameters"),
				 bulk_errdetail(BMSG_REVERT_PARAMS, NULL)));

	/* the original operation read (an unknown one refused) before its revert */
	op = bulk_compose_revert(page, operation, reapply, &st);
	bulk_check_reversible(page, operation);
	op->reverts = DatumGetInt64(DirectFunctionCall1(int8in, CStringGetDatum(job_text)));

	snprintf(cache_key, sizeof(cache_key), "%s/~%s/%d/%d/%lld", page, operation, reapply,
			 bulkorder_language, (long long) confined_shop());
	return attach_kept_plans(op, &st, cache_key);
}

/*
 * The operation a job row runs: its catalogued operation, or for a revert
 * the revert of the operation its params name.  params NULL: read them
 * from the job row.
 */
BulkOperation *
bulk_lookup_job_operation(const char *page, const char *operation, Jsonb *params, int64 job_id)
{
	if (strcmp(operation, "revert") != 0)
		return bulk_lookup_operation(page, operation);
	if (params == NULL)
	{
		Oid			types[1] = {INT8OID};
		Datum		values[1] = {Int64GetDatum(job_id)};
		bool		isnull;

		bulk_spi_exec("SELECT coalesce(effective_params, params) FROM bulkorder.bulk_jobs WHERE job_id = $1",
					  1, types, values, NULL, true, SPI_OK_SELECT);
		if (SPI_processed != 1)
			elog(ERROR, "bulkorder: job %lld not found", (long long) job_id);
		params = DatumGetJsonbPCopy(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}
	return bulk_lookup_revert(page, params);
}

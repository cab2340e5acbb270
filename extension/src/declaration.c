/*-------------------------------------------------------------------------
 *
 * declaration.c
 *	  Read an operation's declaration from the catalogue, once, into a named
 *	  struct (bulkorder_statements.h); the pages of the catalogue.
 *
 * One small query reads everything the statements are composed from:
 * the page, the operation's row, its rules and its whole-call checks, the
 * display names and rule messages in the session's language.  A revert's
 * columns are read by a second one, only for a revert.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/builtins.h"

#include "bulkorder_statements.h"

PG_FUNCTION_INFO_V1(bulkorder_page_list_hint);

static const char *catalog_query =
"SELECT pg.target_table, pg.key_column, pg.visible_condition,"
"       CASE WHEN $3 THEN pg.name_en ELSE pg.name_ja END,"
"       CASE WHEN $3 THEN o.name_en ELSE o.name_ja END,"
"       o.params, o.changed_columns, o.set_clause, o.apply_sql, o.before_sql,"
"       o.effects, o.lock_sql,"
"       coalesce(r.codes, '{}'), coalesce(r.conditions, '{}'), coalesce(r.messages, '{}'),"
"       coalesce(c.conditions, '{}'), coalesce(c.sqlstates, '{}'),"
"       coalesce(c.messages, '{}'), coalesce(c.hints, '{}'), o.prelock_sql,"
"       o.target_join->>'table', o.target_join->>'alias', o.target_join->>'key',"
"       coalesce(o.target_join->>'on', 'true')"
"  FROM bulkorder_catalog.operations o"
"  JOIN bulkorder_catalog.pages pg ON pg.page = o.page"
"  LEFT JOIN LATERAL ("
"       SELECT array_agg(error_code ORDER BY position) AS codes,"
"              array_agg(condition ORDER BY position) AS conditions,"
"              array_agg(CASE WHEN $3 THEN message_en ELSE message_ja END ORDER BY position) AS messages"
"         FROM bulkorder_catalog.operation_rules"
"        WHERE page = o.page AND operation = o.operation) r ON true"
"  LEFT JOIN LATERAL ("
"       SELECT array_agg(condition ORDER BY position) AS conditions,"
"              array_agg(sqlstate ORDER BY position) AS sqlstates,"
"              array_agg(message ORDER BY position) AS messages,"
"              array_agg(coalesce(CASE WHEN $3 THEN hint ELSE coalesce(hint_ja, hint) END, '')"
"                        ORDER BY position) AS hints"
"         FROM bulkorder_catalog.operation_param_checks"
"        WHERE page = o.page AND operation = o.operation) c ON true"
" WHERE o.page = $1 AND o.operation = $2";

/* The columns of catalog_query, in its order */
enum
{
	DECL_TABLE = 1,
	DECL_KEY,
	DECL_VISIBLE,
	DECL_PAGE_NAME,
	DECL_OP_NAME,
	DECL_PARAMS,
	DECL_CHANGED_COLUMNS,
	DECL_SET_CLAUSE,
	DECL_APPLY_SQL,
	DECL_BEFORE_SQL,
	DECL_EFFECTS,
	DECL_LOCK_SQL,
	DECL_RULE_CODES,
	DECL_RULE_CONDITIONS,
	DECL_RULE_MESSAGES,
	DECL_CHECK_CONDITIONS,
	DECL_CHECK_SQLSTATES,
	DECL_CHECK_MESSAGES,
	DECL_CHECK_HINTS,
	DECL_PRELOCK_SQL,
	DECL_JOIN_TABLE			/* then alias, key, on */
};

static const char *revert_query =
"SELECT o.reversible, o.irreversible_reason, o.set_clause IS NOT NULL,"
"       o.revert_condition, o.revert_before_sql, o.revert_apply_sql,"
"       o.revert_prelock_sql, o.revert_lock_sql,"
"       coalesce((SELECT array_agg(r->>'code' ORDER BY n) FROM jsonb_array_elements(o.revert_rules) WITH ORDINALITY AS x(r, n)), '{}'),"
"       coalesce((SELECT array_agg(r->>'condition' ORDER BY n) FROM jsonb_array_elements(o.revert_rules) WITH ORDINALITY AS x(r, n)), '{}'),"
"       coalesce((SELECT array_agg(CASE WHEN $3 THEN r->>'message_en' ELSE r->>'message_ja' END ORDER BY n)"
"                 FROM jsonb_array_elements(o.revert_rules) WITH ORDINALITY AS x(r, n)), '{}'),"
"       o.revert_visible_condition"
"  FROM bulkorder_catalog.operations o WHERE o.page = $1 AND o.operation = $2";

/* The columns of revert_query, in its order */
enum
{
	REVERT_REVERSIBLE = 1,
	REVERT_REASON,
	REVERT_OWN_FIELDS,
	REVERT_CONDITION,
	REVERT_BEFORE_SQL,
	REVERT_APPLY_SQL,
	REVERT_PRELOCK_SQL,
	REVERT_LOCK_SQL,
	REVERT_RULE_CODES,
	REVERT_RULE_CONDITIONS,
	REVERT_RULE_MESSAGES,
	REVERT_VISIBLE
};

/* Column values of the catalogue row, as C strings (NULL for SQL NULL). */
static char *
col_text(HeapTuple tup, TupleDesc desc, int col)
{
	return SPI_getvalue(tup, desc, col);
}

/* A text[] column as a palloc'd array of C strings. */
static char **
col_text_array(HeapTuple tup, TupleDesc desc, int col, int *n)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);
	Datum	   *elems;
	bool	   *nulls;
	char	  **result;

	*n = 0;
	if (isnull)
		return NULL;
	deconstruct_array(DatumGetArrayTypeP(d), TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &nulls, n);
	result = palloc0(sizeof(char *) * (*n + 1));
	for (int i = 0; i < *n; i++)
		result[i] = nulls[i] ? NULL : TextDatumGetCString(elems[i]);
	return result;
}

static bool
col_bool(HeapTuple tup, TupleDesc desc, int col)
{
	bool		isnull;

	return DatumGetBool(SPI_getbinval(tup, desc, col, &isnull));
}

/* Three text[] columns from codes on: codes, conditions and messages. */
static void
col_rules(HeapTuple tup, TupleDesc desc, int codes, BulkRules *rules)
{
	int			n;

	rules->codes = col_text_array(tup, desc, codes, &rules->n);
	rules->conditions = col_text_array(tup, desc, codes + 1, &n);
	rules->messages = col_text_array(tup, desc, codes + 2, &n);
}

/*
 * The pages of the catalogue, read from bulkorder_catalog.pages so that the
 * list is never out of date: "a, b and c" in English, "a、b、c" in Japanese.
 */
static char *
page_list(bool english)
{
	bulk_spi_exec(english ?
				  "SELECT regexp_replace(string_agg(page, ', ' ORDER BY page), ', ([^,]*)$', ' and \\1')"
				  " FROM bulkorder_catalog.pages" :
				  "SELECT string_agg(page, '、' ORDER BY page) FROM bulkorder_catalog.pages",
				  0, NULL, NULL, NULL, true, SPI_OK_SELECT);
	return SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
}

/* The hint of an unknown page for define_operation's SQL: the pages */
char *
bulk_page_list_hint(void)
{
	return bulk_message(BMSG_PAGE_LIST, page_list(bulkorder_language == BULK_LANG_EN));
}

/*
 * Reject a call naming an unknown page (22023), listing the pages: the one
 * place for run_bulk, preview_bulk and the CSV uploads.
 */
void
bulk_unknown_page(const char *page)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown page \"%s\"", page),
			 bulk_errhint(BMSG_PAGE_UNKNOWN, page,
						  page_list(bulkorder_language == BULK_LANG_EN))));
}

/* bulkorder_catalog.page_list_hint(): the same hint, for define_operation */
Datum
bulkorder_page_list_hint(PG_FUNCTION_ARGS)
{
	MemoryContext caller = CurrentMemoryContext;
	char	   *hint;

	SPI_connect();
	hint = bulk_page_list_hint();
	hint = MemoryContextStrdup(caller, hint);
	SPI_finish();
	PG_RETURN_TEXT_P(cstring_to_text(hint));
}

/* Run query with $1 page, $2 operation, $3 whether the session is in English */
static void
query_operation(const char *query, const char *page, const char *operation, Datum *values)
{
	Oid			argtypes[3] = {TEXTOID, TEXTOID, BOOLOID};

	values[0] = CStringGetTextDatum(page);
	values[1] = CStringGetTextDatum(operation);
	values[2] = BoolGetDatum(bulkorder_language == BULK_LANG_EN);
	bulk_spi_exec(query, 3, argtypes, values, NULL, true, SPI_OK_SELECT);
}

/*
 * Read the declaration of page/operation into *d.  An unknown page or
 * operation rejects the call (22023), listing what there is.
 */
void
bulk_read_declaration(const char *page, const char *operation, BulkDeclaration *d)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[3];
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	int			n;

	/* every job, preview and import starts here */
	bulk_check_installed_version();

	query_operation(catalog_query, page, operation, values);
	if (SPI_processed == 0)
	{
		bool		page_known;

		bulk_spi_exec("SELECT 1 FROM bulkorder_catalog.pages WHERE page = $1", 1, argtypes,
					  values, NULL, true, SPI_OK_SELECT);
		page_known = SPI_processed > 0;
		if (!page_known)
			bulk_unknown_page(page);
		bulk_spi_exec("SELECT string_agg(operation, ', ' ORDER BY operation) "
					  "FROM bulkorder_catalog.operations WHERE page = $1",
					  1, argtypes, values, NULL, true, SPI_OK_SELECT);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown operation \"%s\" for page \"%s\"", operation, page),
				 bulk_errhint(BMSG_OPERATION_UNKNOWN, page,
							  SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1),
							  operation)));
	}

	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	d->table = col_text(tup, desc, DECL_TABLE);
	d->key = (char *) quote_identifier(col_text(tup, desc, DECL_KEY));
	d->visible = col_text(tup, desc, DECL_VISIBLE);
	d->page_name = col_text(tup, desc, DECL_PAGE_NAME);
	d->op_name = col_text(tup, desc, DECL_OP_NAME);
	d->param_spec = DatumGetJsonbPCopy(SPI_getbinval(tup, desc, DECL_PARAMS, &isnull));
	d->cols = col_text_array(tup, desc, DECL_CHANGED_COLUMNS, &d->ncols);
	d->set_clause = col_text(tup, desc, DECL_SET_CLAUSE);
	d->apply_sql = col_text(tup, desc, DECL_APPLY_SQL);
	d->before_sql = col_text(tup, desc, DECL_BEFORE_SQL);
	d->effects = col_text_array(tup, desc, DECL_EFFECTS, &d->neffects);
	d->lock_sql = col_text(tup, desc, DECL_LOCK_SQL);
	col_rules(tup, desc, DECL_RULE_CODES, &d->rules);
	d->check_sql = col_text_array(tup, desc, DECL_CHECK_CONDITIONS, &d->nchecks);
	d->check_sqlstate = col_text_array(tup, desc, DECL_CHECK_SQLSTATES, &n);
	d->check_message = col_text_array(tup, desc, DECL_CHECK_MESSAGES, &n);
	d->check_hint = col_text_array(tup, desc, DECL_CHECK_HINTS, &n);
	d->prelock_sql = col_text(tup, desc, DECL_PRELOCK_SQL);
	for (int i = 0; i < lengthof(d->join); i++)
		d->join[i] = col_text(tup, desc, DECL_JOIN_TABLE + i);
}

/*
 * Read how a revert undoes page/operation into *r; false when the
 * catalogue has no such operation (nothing is checked: the callers say
 * what that means).
 */
bool
bulk_read_revert_declaration(const char *page, const char *operation,
							 BulkRevertDeclaration *r)
{
	Datum		values[3];
	HeapTuple	tup;
	TupleDesc	desc;

	query_operation(revert_query, page, operation, values);
	if (SPI_processed == 0)
		return false;
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	r->reversible = col_bool(tup, desc, REVERT_REVERSIBLE);
	r->irreversible_reason = col_text(tup, desc, REVERT_REASON);
	r->own_fields = col_bool(tup, desc, REVERT_OWN_FIELDS);
	r->condition = col_text(tup, desc, REVERT_CONDITION);
	r->before_sql = col_text(tup, desc, REVERT_BEFORE_SQL);
	r->apply_sql = col_text(tup, desc, REVERT_APPLY_SQL);
	r->prelock_sql = col_text(tup, desc, REVERT_PRELOCK_SQL);
	r->lock_sql = col_text(tup, desc, REVERT_LOCK_SQL);
	col_rules(tup, desc, REVERT_RULE_CODES, &r->rules);
	r->visible_condition = col_text(tup, desc, REVERT_VISIBLE);
	return true;
}

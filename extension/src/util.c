/*-------------------------------------------------------------------------
 *
 * util.c
 *	  Small helpers every part uses: SPI with a checked result, the keys of a
 *	  params/options object, key arrays.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"

#include "bulkorder.h"

/*
 * Every statement the engine runs goes through one of these two, which
 * confine it to the job's shop when one is set (confine.c).
 */
int
bulk_spi_exec(const char *sql, int nargs, Oid *argtypes, Datum *values,
			  const char *nulls, bool read_only, int expected)
{
	int			rc;

	bulk_arm_confinement();
	rc = SPI_execute_with_args(sql, nargs, argtypes, values, nulls, read_only, 0);
	bulk_disarm_confinement();
	if (rc != expected)
		elog(ERROR, "bulkorder: SPI_execute_with_args returned %s for: %s",
			 SPI_result_code_string(rc), sql);
	return rc;
}

/*
 * bulk_spi_exec a statement that gives one row, and return the row's first
 * column, copied into the current memory context (*isnull: it is NULL).
 */
Datum
bulk_spi_exec_value(const char *sql, int nargs, Oid *argtypes, Datum *values,
					const char *nulls, bool read_only, int expected, bool *isnull)
{
	Form_pg_attribute att;
	Datum		d;

	bulk_spi_exec(sql, nargs, argtypes, values, nulls, read_only, expected);
	if (SPI_processed != 1)
		elog(ERROR, "bulkorder: %llu rows, not one, from: %s",
			 (unsigned long long) SPI_processed, sql);
	att = TupleDescAttr(SPI_tuptable->tupdesc, 0);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, isnull);
	if (!*isnull)
		d = datumCopy(d, att->attbyval, att->attlen);
	SPI_freetuptable(SPI_tuptable);
	return d;
}

/* Column col of the first row of SPI_tuptable. */
Datum
bulk_spi_first(int col, bool *isnull)
{
	return SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, col, isnull);
}

/* A kept or prepared plan; the caller checks the result code. */
int
bulk_spi_execute_plan(SPIPlanPtr plan, Datum *values, const char *nulls, bool read_only)
{
	int			rc;

	bulk_arm_confinement();
	rc = SPI_execute_plan(plan, values, nulls, read_only, 0);
	bulk_disarm_confinement();
	return rc;
}

/*
 * Iterate over the top-level keys of a JSON object passed as params or
 * options; anything but an object is rejected, naming what it was for.
 */
JsonbIterator *
bulk_object_iterator(Jsonb *obj, const char *what)
{
	if (!JB_ROOT_IS_OBJECT(obj) || JB_ROOT_IS_SCALAR(obj))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a JSON object", what),
				 bulk_errdetail(BMSG_NOT_OBJECT, what)));
	return JsonbIteratorInit(&obj->root);
}

/* The next key (palloc'd) and its value; false when the object is done. */
bool
bulk_object_next(JsonbIterator **it, char **key, JsonbValue *value)
{
	JsonbValue	k;
	JsonbIteratorToken tok;

	while ((tok = JsonbIteratorNext(it, &k, true)) != WJB_DONE)
	{
		if (tok != WJB_KEY)
			continue;
		*key = pnstrdup(k.val.string.val, k.val.string.len);
		tok = JsonbIteratorNext(it, value, true);
		Assert(tok == WJB_VALUE);
		return true;
	}
	return false;
}

/* qsort's comparison of int64 values, ascending */
int
bulk_compare_int64(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return (x > y) - (x < y);
}

/*
 * Validate a targets array (one dimension, no NULL) and return its keys
 * sorted and distinct: key order is lock order, and a key given twice is
 * processed once.
 */
BulkTargets
bulk_targets_from_array(ArrayType *targets)
{
	BulkTargets result;
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			out = 0;

	if (ARR_NDIM(targets) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("targets must be a one-dimensional array"),
				 bulk_errdetail(BMSG_TARGETS_DIMENSIONS, psprintf("%d", ARR_NDIM(targets)))));
	n = ArrayGetNItems(ARR_NDIM(targets), ARR_DIMS(targets));
	if (n > bulkorder_max_targets)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many targets: %d", n),
				 bulk_errdetail(BMSG_TARGETS_TOO_MANY, psprintf("%d", bulkorder_max_targets))));

	deconstruct_array(targets, INT8OID, sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
					  &elems, &nulls, &n);
	result.keys = palloc(sizeof(int64) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("targets must not contain NULL"),
					 bulk_errdetail(BMSG_TARGETS_NULL_ELEMENT, psprintf("%d", i + 1))));
		result.keys[i] = DatumGetInt64(elems[i]);
	}
	pfree(elems);
	pfree(nulls);

	qsort(result.keys, n, sizeof(int64), bulk_compare_int64);
	for (int i = 0; i < n; i++)
		if (out == 0 || result.keys[out - 1] != result.keys[i])
			result.keys[out++] = result.keys[i];
	result.count = out;
	return result;
}

ArrayType *
bulk_keys_array(const int64 *keys, int count)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(count, 1));
	ArrayType  *arr;

	for (int i = 0; i < count; i++)
		d[i] = Int64GetDatum(keys[i]);
	arr = construct_array(d, count, INT8OID, sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
	pfree(d);
	return arr;
}

/*
 * The keys of a bigint[] the engine itself made (bulk_keys_array, a chunk,
 * a list of held targets): empty or one-dimensional, without NULL, kept as
 * they are.  Points into arr.  what names the list in the error.
 */
BulkTargets
bulk_array_keys(ArrayType *arr, const char *what)
{
	BulkTargets t;

	if (ARR_NDIM(arr) > 1 || ARR_HASNULL(arr) || ARR_ELEMTYPE(arr) != INT8OID)
		elog(ERROR, "bulkorder: malformed %s", what);
	t.count = ARR_NDIM(arr) == 0 ? 0 : ArrayGetNItems(1, ARR_DIMS(arr));
	t.keys = (int64 *) ARR_DATA_PTR(arr);
	return t;
}

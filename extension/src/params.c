/*-------------------------------------------------------------------------
 *
 * params.c
 *	  Check a job's parameters against the operation's declared schema.
 *
 * Parameters wrong for the whole job reject the call before anything
 * changes (SPEC §3): an unknown or missing key, a wrong type, a value
 * outside its enum or bounds, then the operation's own whole-job checks
 * (a known delivery method, a public product, …) declared in SQL.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "mb/pg_wchar.h"
#include "utils/date.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "bulkorder.h"

static bool
spec_bool(JsonbContainer *spec, const char *field)
{
	JsonbValue	buf;
	JsonbValue *v = getKeyJsonValueFromContainer(spec, field, strlen(field), &buf);

	return v != NULL && v->type == jbvBool && v->val.boolean;
}

static char *
spec_string(JsonbContainer *spec, const char *field)
{
	JsonbValue	buf;
	JsonbValue *v = getKeyJsonValueFromContainer(spec, field, strlen(field), &buf);

	if (v == NULL || v->type != jbvString)
		return NULL;
	return pnstrdup(v->val.string.val, v->val.string.len);
}

static bool
spec_number(JsonbContainer *spec, const char *field, int64 *out)
{
	JsonbValue	buf;
	JsonbValue *v = getKeyJsonValueFromContainer(spec, field, strlen(field), &buf);

	if (v == NULL || v->type != jbvNumeric)
		return false;
	*out = DatumGetInt64(DirectFunctionCall1(numeric_int8, NumericGetDatum(v->val.numeric)));
	return true;
}

static void
check_text(const char *opname, const char *name, JsonbContainer *spec,
		   const char *s, int len)
{
	int64		max_length;
	JsonbValue	buf;
	JsonbValue *allowed = getKeyJsonValueFromContainer(spec, "enum", 4, &buf);

	if (spec_number(spec, "max_length", &max_length) &&
		pg_mbstrlen_with_len(s, len) > max_length)
		ereport(ERROR,
				(errcode(ERRCODE_STRING_DATA_RIGHT_TRUNCATION),
				 errmsg("parameter \"%s\" of %s is longer than %lld characters",
						name, opname, (long long) max_length)));
	if (allowed != NULL && allowed->type == jbvBinary)
	{
		JsonbValue	want;

		want.type = jbvString;
		want.val.string.val = (char *) s;
		want.val.string.len = len;
		if (findJsonbValueFromContainer(allowed->val.binary.data, JB_FARRAY, &want) == NULL)
		{
			Jsonb	   *jb = JsonbValueToJsonb(allowed);

			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("parameter \"%s\" of %s cannot be \"%.*s\"", name, opname, len, s),
					 errhint("Allowed values: %s.",
							 JsonbToCString(NULL, &jb->root, VARSIZE(jb)))));
		}
	}
}

static void
type_error(const char *opname, const char *name, const char *type)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("parameter \"%s\" of %s must be of type %s", name, opname, type)));
}

/* Check one given value against its spec. */
static void
check_value(const char *opname, const char *name, JsonbContainer *spec, JsonbValue *v)
{
	char	   *type = spec_string(spec, "type");

	if (v->type == jbvNull)
	{
		if (!spec_bool(spec, "nullable"))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("parameter \"%s\" of %s must not be null", name, opname)));
		return;
	}

	if (strcmp(type, "boolean") == 0)
	{
		if (v->type != jbvBool)
			type_error(opname, name, type);
	}
	else if (strcmp(type, "text") == 0)
	{
		if (v->type != jbvString)
			type_error(opname, name, type);
		check_text(opname, name, spec, v->val.string.val, v->val.string.len);
	}
	else if (strcmp(type, "integer") == 0 || strcmp(type, "bigint") == 0)
	{
		int64		bound;
		int64		value;
		bool		is_int;

		if (v->type != jbvNumeric)
			type_error(opname, name, type);
		is_int = DatumGetBool(DirectFunctionCall2(numeric_eq, NumericGetDatum(v->val.numeric),
												  DirectFunctionCall2(numeric_trunc,
																	  NumericGetDatum(v->val.numeric),
																	  Int32GetDatum(0))));
		if (!is_int)
			type_error(opname, name, type);
		/* numeric_int8 raises 22003 on overflow itself */
		value = DatumGetInt64(DirectFunctionCall1(numeric_int8, NumericGetDatum(v->val.numeric)));
		if (strcmp(type, "integer") == 0 && (value < PG_INT32_MIN || value > PG_INT32_MAX))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("parameter \"%s\" of %s is out of range for type integer", name, opname)));
		if (spec_number(spec, "min", &bound) && value < bound)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("parameter \"%s\" of %s must be at least %lld", name, opname,
							(long long) bound)));
		if (spec_number(spec, "max", &bound) && value > bound)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("parameter \"%s\" of %s must be at most %lld", name, opname,
							(long long) bound)));
	}
	else if (strcmp(type, "date") == 0)
	{
		char	   *s;

		if (v->type != jbvString)
			type_error(opname, name, "date (\"YYYY-MM-DD\")");
		s = pnstrdup(v->val.string.val, v->val.string.len);
		/* date_in reports a malformed date with its own SQLSTATE (22007/22008) */
		(void) DirectFunctionCall1(date_in, CStringGetDatum(s));
	}
	else if (strcmp(type, "text[]") == 0)
	{
		JsonbIterator *it;
		JsonbValue	elem;
		JsonbIteratorToken tok;
		int64		count = 0;

		if (v->type != jbvBinary || !JsonContainerIsArray(v->val.binary.data))
			type_error(opname, name, "array of text");
		it = JsonbIteratorInit(v->val.binary.data);
		while ((tok = JsonbIteratorNext(&it, &elem, true)) != WJB_DONE)
		{
			if (tok != WJB_ELEM)
				continue;
			if (elem.type == jbvNull)
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("parameter \"%s\" of %s must not contain null", name, opname)));
			if (elem.type != jbvString)
				type_error(opname, name, "array of text");
			check_text(opname, name, spec, elem.val.string.val, elem.val.string.len);
			if (++count > 1000)
				ereport(ERROR,
						(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						 errmsg("parameter \"%s\" of %s has more than 1000 elements", name, opname)));
		}
	}
	else
		elog(ERROR, "bulkorder: unknown parameter type \"%s\" in the catalogue", type);
}

/*
 * Validate params; return them with every default filled in, as the
 * catalogue's SQL sees them in "p".
 */
Jsonb *
bulk_check_params(BulkOperation *op, Jsonb *params)
{
	char	   *opname = psprintf("%s/%s", op->page, op->operation);
	JsonbIterator *it;
	JsonbValue	v;
	char	   *name;
	Oid			argtypes[2] = {JSONBOID, JSONBOID};
	Datum		values[2];
	bool		isnull;
	Jsonb	   *normalized;

	/* a revert's params are made by revert_job, not given by a caller */
	if (op->reverts > 0)
		return params;

	/* every given key must be declared, and of its declared type */
	it = bulk_object_iterator(params, "params");
	while (bulk_object_next(&it, &name, &v))
	{
		JsonbValue	specbuf;
		JsonbValue *spec;

		spec = getKeyJsonValueFromContainer(&op->param_spec->root, name, strlen(name), &specbuf);
		if (spec == NULL)
		{
			bulk_spi_exec("SELECT coalesce(string_agg(k, ', ' ORDER BY k), '(none)') "
						  "FROM jsonb_object_keys($1) AS k",
						  1, argtypes, (Datum[]) {JsonbPGetDatum(op->param_spec)}, NULL,
						  true, SPI_OK_SELECT);
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown parameter \"%s\" for %s", name, opname),
					 errhint("The parameters of %s are: %s.", opname,
							 SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1))));
		}
		check_value(opname, name, spec->val.binary.data, &v);
	}

	/* every declared key without a default must be given */
	it = bulk_object_iterator(op->param_spec, "the catalogue's params");
	while (bulk_object_next(&it, &name, &v))
	{
		JsonbValue	buf;

		if (getKeyJsonValueFromContainer(&params->root, name, strlen(name), &buf) == NULL &&
			getKeyJsonValueFromContainer(v.val.binary.data, "default", 7, &buf) == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("missing parameter \"%s\" for %s", name, opname)));
	}

	values[0] = JsonbPGetDatum(params);
	values[1] = JsonbPGetDatum(op->param_spec);
	bulk_spi_exec("SELECT $1 || coalesce(jsonb_object_agg(key, value->'default'), '{}') "
				  "FROM jsonb_each($2) WHERE value ? 'default' AND NOT $1 ? key",
				  2, argtypes, values, NULL, true, SPI_OK_SELECT);
	normalized = DatumGetJsonbPCopy(SPI_getbinval(SPI_tuptable->vals[0],
												  SPI_tuptable->tupdesc, 1, &isnull));

	/* the operation's own whole-job checks */
	for (int i = 0; i < op->nparam_checks; i++)
	{
		char	   *sql = psprintf("SELECT coalesce((%s), false) FROM (SELECT $1::jsonb AS p) AS prm",
								   op->param_check_sql[i]);
		const char *state = op->param_check_sqlstate[i];

		values[0] = JsonbPGetDatum(normalized);
		bulk_spi_exec(sql, 1, argtypes, values, NULL, true, SPI_OK_SELECT);
		if (!DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)))
			ereport(ERROR,
					(errcode(MAKE_SQLSTATE(state[0], state[1], state[2], state[3], state[4])),
					 errmsg("%s: %s", opname, op->param_check_message[i]),
					 op->param_check_hint[i][0] ? errhint("%s", op->param_check_hint[i]) : 0));
	}
	return normalized;
}

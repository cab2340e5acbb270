/*-------------------------------------------------------------------------
 *
 * params.c
 *	  Check a job's parameters against the operation's declared schema.
 *
 * Parameters wrong for the whole job reject the call before anything
 * changes (docs/api.md): an unknown or missing key, a wrong type, a value
 * outside its enum or bounds, then the operation's own whole-job checks
 * (a known delivery method, a public product, …) declared in SQL.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
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
						name, opname, (long long) max_length),
				 bulk_errdetail(BMSG_PARAM_TOO_LONG, name,
								psprintf("%lld", (long long) max_length))));
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
					 bulk_errhint(BMSG_PARAM_ENUM, name,
								  JsonbToCString(NULL, &jb->root, VARSIZE(jb)))));
		}
	}
}

static void
type_error(const char *opname, const char *name, const char *type, BulkMsg msg)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("parameter \"%s\" of %s must be of type %s", name, opname, type),
			 bulk_errdetail(msg, name)));
}

/*
 * True when the text is empty or only white space, the ideographic space
 * U+3000 of Japanese input methods and the no-break space included: such a
 * tag looks like no tag at all on the admin screen.
 */
static bool
is_blank(const char *s, int len)
{
	int			i = 0;

	while (i < len)
	{
		if (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r' ||
			s[i] == '\v' || s[i] == '\f')
			i += 1;
		else if (i + 2 < len && (unsigned char) s[i] == 0xE3 &&
				 (unsigned char) s[i + 1] == 0x80 && (unsigned char) s[i + 2] == 0x80)
			i += 3;				/* U+3000 */
		else if (i + 1 < len && (unsigned char) s[i] == 0xC2 &&
				 (unsigned char) s[i + 1] == 0xA0)
			i += 2;				/* U+00A0 */
		else
			return false;
	}
	return true;
}

/*
 * An integer parameter: a JSON number without a fractional part, within
 * its type.  jsonb keeps a number's written scale, so 1.0 (scale 1) is
 * refused here instead of reaching a statement's ::integer cast as "1.0"
 * (22P02 in run_bulk after a preview that said yes); 1e3 is stored by
 * jsonb as 1000 and is that integer.
 */
static void
check_integer(const char *opname, const char *name, JsonbContainer *spec,
			  const char *type, JsonbValue *v)
{
	bool		is_int4 = strcmp(type, "integer") == 0;
	int64		lo = is_int4 ? PG_INT32_MIN : PG_INT64_MIN;
	int64		hi = is_int4 ? PG_INT32_MAX : PG_INT64_MAX;
	Datum		num;
	int64		bound;
	int64		value;

	if (v->type != jbvNumeric)
		type_error(opname, name, type, BMSG_PARAM_INTEGER);
	num = NumericGetDatum(v->val.numeric);
	if (DatumGetInt32(DirectFunctionCall1(numeric_scale, num)) > 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("parameter \"%s\" of %s must be an integer", name, opname),
				 bulk_errdetail(BMSG_PARAM_INTEGER, name)));
	if (DatumGetInt32(DirectFunctionCall2(numeric_cmp, num,
										  NumericGetDatum(int64_to_numeric(lo)))) < 0 ||
		DatumGetInt32(DirectFunctionCall2(numeric_cmp, num,
										  NumericGetDatum(int64_to_numeric(hi)))) > 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("parameter \"%s\" of %s is out of range for type %s", name, opname, type),
				 bulk_errdetail(BMSG_PARAM_INTEGER_RANGE, name, type,
								psprintf(INT64_FORMAT, lo), psprintf(INT64_FORMAT, hi))));
	value = DatumGetInt64(DirectFunctionCall1(numeric_int8, num));
	if (spec_number(spec, "min", &bound) && value < bound)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("parameter \"%s\" of %s must be at least %lld", name, opname,
						(long long) bound),
				 bulk_errdetail(BMSG_PARAM_MIN, name, psprintf("%lld", (long long) bound))));
	if (spec_number(spec, "max", &bound) && value > bound)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("parameter \"%s\" of %s must be at most %lld", name, opname,
						(long long) bound),
				 bulk_errdetail(BMSG_PARAM_MAX, name, psprintf("%lld", (long long) bound))));
}

/*
 * A date parameter, read in the caller's DateStyle and TimeZone (so
 * "01/02/2030" and "today" mean what the caller meant), then returned as
 * ISO "YYYY-MM-DD": the form every statement and a later background worker
 * read the same way whatever their own settings.  A real date of the shop's
 * calendar only: infinity and dates outside 1900-01-01 .. 2199-12-31 are
 * refused (22008), so no later arithmetic on it (the next delivery of a
 * subscription) can fail.
 */
static char *
check_date(const char *opname, const char *name, JsonbValue *v)
{
	MemoryContext cxt = CurrentMemoryContext;
	char	   *s;
	DateADT		d = 0;
	int			y,
				m,
				day;

	if (v->type != jbvString)
		type_error(opname, name, "date (\"YYYY-MM-DD\")", BMSG_PARAM_DATE);
	s = pnstrdup(v->val.string.val, v->val.string.len);

	/* date_in's own error, said of this parameter (nothing to undo: re-thrown) */
	PG_TRY();
	{
		d = DatumGetDateADT(DirectFunctionCall1(date_in, CStringGetDatum(s)));
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		ereport(ERROR,
				(errcode(edata->sqlerrcode),
				 errmsg("parameter \"%s\" of %s is not a valid date: %s", name, opname,
						edata->message),
				 bulk_errdetail(BMSG_PARAM_DATE, name)));
	}
	PG_END_TRY();

	if (DATE_NOT_FINITE(d) ||
		d < date2j(1900, 1, 1) - POSTGRES_EPOCH_JDATE ||
		d > date2j(2199, 12, 31) - POSTGRES_EPOCH_JDATE)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("parameter \"%s\" of %s is out of range: \"%s\"", name, opname, s),
				 bulk_errdetail(BMSG_PARAM_DATE_RANGE, name)));
	j2date(d + POSTGRES_EPOCH_JDATE, &y, &m, &day);
	return psprintf("%04d-%02d-%02d", y, m, day);
}

/*
 * Check one given value against its spec; *out is the value the job runs
 * (the same value, or its normalised form).
 */
static void
check_value(const char *opname, const char *name, JsonbValue *specv, JsonbValue *v,
			JsonbValue *out)
{
	JsonbContainer *spec;
	char	   *type;

	*out = *v;
	/* a catalogue row written by hand may be malformed: say so, never crash */
	if (specv->type != jbvBinary || !JsonContainerIsObject(specv->val.binary.data) ||
		(type = spec_string(specv->val.binary.data, "type")) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
				 errmsg("parameter \"%s\" of %s has no \"type\" in the catalogue", name, opname)));
	spec = specv->val.binary.data;

	if (v->type == jbvNull)
	{
		if (!spec_bool(spec, "nullable"))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("parameter \"%s\" of %s must not be null", name, opname),
					 bulk_errdetail(BMSG_PARAM_NULL, name)));
		return;
	}

	if (strcmp(type, "boolean") == 0)
	{
		if (v->type != jbvBool)
			type_error(opname, name, type, BMSG_PARAM_BOOLEAN);
	}
	else if (strcmp(type, "text") == 0)
	{
		if (v->type != jbvString)
			type_error(opname, name, type, BMSG_PARAM_TEXT);
		check_text(opname, name, spec, v->val.string.val, v->val.string.len);
	}
	else if (strcmp(type, "integer") == 0 || strcmp(type, "bigint") == 0)
		check_integer(opname, name, spec, type, v);
	else if (strcmp(type, "date") == 0)
	{
		char	   *iso = check_date(opname, name, v);

		out->type = jbvString;
		out->val.string.val = iso;
		out->val.string.len = strlen(iso);
	}
	else if (strcmp(type, "text[]") == 0)
	{
		JsonbIterator *it;
		JsonbValue	elem;
		JsonbIteratorToken tok;
		int64		count = 0;

		if (v->type != jbvBinary || !JsonContainerIsArray(v->val.binary.data))
			type_error(opname, name, "array of text", BMSG_PARAM_ARRAY);
		it = JsonbIteratorInit(v->val.binary.data);
		while ((tok = JsonbIteratorNext(&it, &elem, true)) != WJB_DONE)
		{
			if (tok != WJB_ELEM)
				continue;
			if (elem.type == jbvNull)
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("parameter \"%s\" of %s must not contain null", name, opname),
						 bulk_errdetail(BMSG_PARAM_ARRAY_NULL, name)));
			if (elem.type != jbvString)
				type_error(opname, name, "array of text", BMSG_PARAM_ARRAY);
			/* a list of names (tags): an empty or blank name is no name */
			if (is_blank(elem.val.string.val, elem.val.string.len))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("parameter \"%s\" of %s must not contain an empty or blank element",
								name, opname),
						 bulk_errdetail(BMSG_PARAM_ARRAY_BLANK, name)));
			check_text(opname, name, spec, elem.val.string.val, elem.val.string.len);
			if (++count > 1000)
				ereport(ERROR,
						(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						 errmsg("parameter \"%s\" of %s has more than 1000 elements", name, opname),
						 bulk_errdetail(BMSG_PARAM_ARRAY_LIMIT, name)));
		}
	}
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
				 errmsg("parameter \"%s\" of %s has the unknown type \"%s\" in the catalogue",
						name, opname, type)));
}

/*
 * Validate params; return them as the job runs them, as the catalogue's SQL
 * sees them in "p": every value in its normal form (dates as ISO
 * "YYYY-MM-DD", relative words such as "today" resolved) and every default
 * filled in.  The result means the same in any session and at any later
 * time: run_bulk stores it for the background worker, and request keys
 * compare it.
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
	Jsonb	   *given;
	Jsonb	   *normalized;
	JsonbParseState *state = NULL;

	/* a revert's params are made by revert_job, not given by a caller */
	if (op->reverts > 0)
		return params;

	/* every given key must be declared, and of its declared type */
	it = bulk_object_iterator(params, "params");
	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	while (bulk_object_next(&it, &name, &v))
	{
		JsonbValue	specbuf;
		JsonbValue *spec;
		JsonbValue	key;
		JsonbValue	out;

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
					 bulk_errhint(BMSG_PARAM_UNKNOWN, name, opname,
								  SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1))));
		}
		check_value(opname, name, spec, &v, &out);
		key.type = jbvString;
		key.val.string.val = name;
		key.val.string.len = strlen(name);
		pushJsonbValue(&state, WJB_KEY, &key);
		pushJsonbValue(&state, WJB_VALUE, &out);
	}
	given = JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, NULL));

	/* every declared key without a default must be given */
	it = bulk_object_iterator(op->param_spec, "the catalogue's params");
	while (bulk_object_next(&it, &name, &v))
	{
		JsonbValue	buf;

		if (getKeyJsonValueFromContainer(&params->root, name, strlen(name), &buf) == NULL &&
			getKeyJsonValueFromContainer(v.val.binary.data, "default", 7, &buf) == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("missing parameter \"%s\" for %s", name, opname),
					 bulk_errdetail(BMSG_PARAM_MISSING, name)));
	}

	values[0] = JsonbPGetDatum(given);
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
					 /* the catalogue's own text, in the session's language */
					 op->param_check_hint[i][0] ? errhint("%s", op->param_check_hint[i]) : 0));
	}
	return normalized;
}

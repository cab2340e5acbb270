/*-------------------------------------------------------------------------
 *
 * tags.c
 *	  bulkorder.merge_tags(tags, add, remove), the tags rule of the orders
 *	  and customers pages, in C.
 *
 * The tags operation's set clause calls it once per target row.  As a SQL
 * function its body (an aggregate over unnest) can never be inlined, so
 * every call started an executor for it: three quarters of the engine's
 * instructions above its floor in a 10,000-row chunk (bench/PROFILE.md).
 * In C a call is a loop over a few array elements, and nothing in it
 * depends on search_path.
 *
 * It gives exactly what the SQL definition gave:
 *
 *	SELECT coalesce(array_agg(tag ORDER BY pos), '{}')
 *	FROM (SELECT tag, min(pos) AS pos
 *		  FROM unnest(coalesce(tags, '{}') || coalesce(add, '{}'))
 *			   WITH ORDINALITY AS u(tag, pos)
 *		  WHERE tag <> ALL (coalesce(remove, '{}'))
 *		  GROUP BY tag) s
 *
 * that is, the elements of tags || add in their order, each kept at its
 * first place, less those that are not "<> ALL (remove)": an element equal
 * to one of remove, and, when remove is not empty, a NULL element or any
 * element when remove holds a NULL (the comparison is then NULL, not true).
 * With remove empty, NULL elements are kept as one NULL, at the first one's
 * place (GROUP BY puts NULLs together).  Equality is texteq under the
 * call's collation, as the SQL comparisons and grouping used.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(bulkorder_merge_tags);

/* The elements of a text[] argument (none for NULL) */
static void
text_elements(FunctionCallInfo fcinfo, int argno, Datum **elems, bool **nulls, int *n)
{
	*n = 0;
	*elems = NULL;
	*nulls = NULL;
	if (PG_ARGISNULL(argno))
		return;
	deconstruct_array(PG_GETARG_ARRAYTYPE_P(argno), TEXTOID, -1, false, TYPALIGN_INT,
					  elems, nulls, n);
}

static bool
text_equal(Oid collation, Datum a, Datum b)
{
	return DatumGetBool(DirectFunctionCall2Coll(texteq, collation, a, b));
}

Datum
bulkorder_merge_tags(PG_FUNCTION_ARGS)
{
	Oid			collation = OidIsValid(PG_GET_COLLATION()) ? PG_GET_COLLATION() : DEFAULT_COLLATION_OID;
	Datum	   *all,
			   *rm;
	bool	   *all_nulls,
			   *rm_nulls;
	int			nall,
				nrm;
	Datum	   *out;
	bool	   *out_nulls;
	int			nout = 0;
	bool		rm_has_null = false;
	bool		kept_null = false;
	int			dims[1];
	int			lbs[1] = {1};

	/*
	 * tags || add, as the SQL concatenated them (the same result, or the
	 * same error for arrays of incompatible dimensions), then its elements.
	 */
	{
		ArrayType  *tags = PG_ARGISNULL(0) ? construct_empty_array(TEXTOID) : PG_GETARG_ARRAYTYPE_P(0);
		ArrayType  *add = PG_ARGISNULL(1) ? construct_empty_array(TEXTOID) : PG_GETARG_ARRAYTYPE_P(1);
		ArrayType  *cat = DatumGetArrayTypeP(DirectFunctionCall2(array_cat, PointerGetDatum(tags),
																 PointerGetDatum(add)));

		deconstruct_array(cat, TEXTOID, -1, false, TYPALIGN_INT, &all, &all_nulls, &nall);
	}
	text_elements(fcinfo, 2, &rm, &rm_nulls, &nrm);
	for (int j = 0; j < nrm; j++)
		rm_has_null |= rm_nulls[j];

	out = palloc(sizeof(Datum) * Max(nall, 1));
	out_nulls = palloc(sizeof(bool) * Max(nall, 1));
	for (int i = 0; i < nall; i++)
	{
		bool		keep = true;

		/* tag <> ALL (remove): true only when it is true for every element */
		if (nrm > 0)
		{
			if (all_nulls[i] || rm_has_null)
				keep = false;
			else
				for (int j = 0; j < nrm && keep; j++)
					keep = !text_equal(collation, all[i], rm[j]);
		}
		if (!keep)
			continue;

		/* GROUP BY tag: only the first of equal elements (NULLs together) */
		if (all_nulls[i])
		{
			if (kept_null)
				continue;
			kept_null = true;
		}
		else
		{
			bool		seen = false;

			for (int k = 0; k < nout && !seen; k++)
				seen = !out_nulls[k] && text_equal(collation, all[i], out[k]);
			if (seen)
				continue;
		}
		out[nout] = all[i];
		out_nulls[nout] = all_nulls[i];
		nout++;
	}

	if (nout == 0)
		PG_RETURN_ARRAYTYPE_P(construct_empty_array(TEXTOID));
	dims[0] = nout;
	PG_RETURN_ARRAYTYPE_P(construct_md_array(out, out_nulls, 1, dims, lbs, TEXTOID, -1, false,
											 TYPALIGN_INT));
}

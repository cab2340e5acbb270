# bulkorder — PGXS build, plus the project's two commands: `make demo`, `make test`.

EXTENSION = bulkorder
EXTVERSION := $(shell sed -n "s/^default_version *= *'\(.*\)'/\1/p" $(EXTENSION).control)

MODULE_big = bulkorder
OBJS = $(patsubst %.c,%.o,$(sort $(wildcard extension/src/*.c)))
PG_CPPFLAGS = -I$(srcdir)/extension/include -DBULKORDER_VERSION='"$(EXTVERSION)"'
PG_CFLAGS = -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers -Wno-sign-compare

# The SQL sources, by kind (README, "Source layout"):
#   install/   run once by CREATE EXTENSION: what it finds (fresh, adopt,
#              restore), the catalogue's tables
#   shop/      the shop's tables and views: created on a fresh install only,
#              then released from the extension (code/98_release.sql)
#   code/      functions, views of the engine, the operations, grants: every
#              statement can run again, so every upgrade script ends with it
#   upgrades/  A--B.sql: what only the upgrade from A to B does (tables,
#              dropped or re-typed objects); the build appends code/
#   releases/  the scripts of released versions, frozen as shipped
INSTALL_SQL = $(sort $(wildcard extension/sql/install/*.sql))
SHOP_SQL = $(sort $(wildcard extension/sql/shop/*.sql))
CODE_SQL = $(sort $(wildcard extension/sql/code/[0-5]*.sql)) \
           $(sort $(wildcard extension/sql/code/operations/*.sql)) \
           $(sort $(wildcard extension/sql/code/[6-9]*.sql))
# only the step into the version being built is generated; earlier steps
# are frozen under releases/ when their version ships
UPGRADE_SQL = $(wildcard extension/sql/upgrades/*--$(EXTVERSION).sql)
DATA_built = $(EXTENSION)--$(EXTVERSION).sql \
             $(patsubst extension/sql/upgrades/%.sql,$(EXTENSION)--%.sql,$(UPGRADE_SQL))
DATA = $(wildcard extension/sql/releases/$(EXTENSION)--*.sql)

REGRESS = $(patsubst sql/%.sql,%,$(sort $(wildcard sql/*.sql)))
ISOLATION = $(patsubst specs/%.spec,%,$(sort $(wildcard specs/*.spec)))

EXTRA_CLEAN = $(DATA_built) results output_iso regression.diffs regression.out

PG_CONFIG ?= /usr/lib/postgresql/15/bin/pg_config
ifeq ($(wildcard $(PG_CONFIG)),)
# before `make deps` has run there is no pg_config: only the project's own targets work
NO_PGXS_YET = 1
else
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)
endif

# Debian's PGXS compiles LLVM bitcode when clang is there; skip it when not.
ifeq ($(shell command -v clang 2>/dev/null),)
with_llvm = no
endif

# sql_cat TITLE FILES: the files, each under a banner, @EXTVERSION@ filled in
sql_cat = for f in $(2); do echo; echo "-- ==== $$f"; sed 's/@EXTVERSION@/$(EXTVERSION)/g' $$f; done

$(EXTENSION)--$(EXTVERSION).sql: $(INSTALL_SQL) $(SHOP_SQL) $(CODE_SQL) $(EXTENSION).control Makefile
	{ echo '-- Generated from extension/sql by make: edit the sources, not this file.'; \
	  printf '%s\n' '\echo Use "CREATE EXTENSION $(EXTENSION)" to load this file. \quit'; \
	  $(call sql_cat,,$(INSTALL_SQL)); \
	  echo; echo '-- The shop'"'"'s tables: on a fresh install only (install/00_mode.sql).'; \
	  echo 'DO $$bulkorder_shop$$'; echo 'BEGIN'; \
	  echo "IF pg_catalog.current_setting('bulkorder_install.mode') = 'fresh' THEN"; \
	  $(call sql_cat,,$(SHOP_SQL)); \
	  echo 'END IF;'; echo 'END'; echo '$$bulkorder_shop$$;'; \
	  $(call sql_cat,,$(CODE_SQL)); } > $@

$(EXTENSION)--%--$(EXTVERSION).sql: extension/sql/upgrades/%--$(EXTVERSION).sql $(CODE_SQL) $(EXTENSION).control Makefile
	{ echo '-- Generated from extension/sql by make: edit the sources, not this file.'; \
	  printf '%s\n' '\echo Use "ALTER EXTENSION $(EXTENSION) UPDATE TO '"'"'$(EXTVERSION)'"'"'" to load this file. \quit'; \
	  $(call sql_cat,,$<); \
	  $(call sql_cat,,$(CODE_SQL)); } > $@

# PGXS tracks no header dependencies: every object depends on the shared header.
$(OBJS): extension/include/bulkorder.h extension/include/bulkorder_csv.h

.PHONY: deps demo stop test bench

deps:
	bash tools/deps.sh

demo: deps
	$(MAKE) all
	bash tools/demo.sh

stop:
	bash tools/pg.sh stop demo

test: deps
	$(MAKE) all
	bash tools/test.sh

bench: deps
	$(MAKE) all
	bash bench/run.sh

# bulkorder — PGXS build, plus the project's commands: `make demo`, `make test`, `make fuzz`.

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
# the shop/ files this version added: a fresh install runs them after the
# older ones, the update runs them after upgrades/A--B.sql (the same
# statements on both paths, so both end with the same schema)
UPGRADE_SHOP_SQL = extension/sql/shop/99_shops.sql
DATA_built = $(EXTENSION)--$(EXTVERSION).sql \
             $(patsubst extension/sql/upgrades/%.sql,$(EXTENSION)--%.sql,$(UPGRADE_SQL))
DATA = $(wildcard extension/sql/releases/$(EXTENSION)--*.sql)

REGRESS = $(patsubst sql/%.sql,%,$(sort $(wildcard sql/*.sql)))
ISOLATION = $(patsubst specs/%.spec,%,$(sort $(wildcard specs/*.spec)))

EXTRA_CLEAN = $(DATA_built) results output_iso regression.diffs regression.out

# Which PostgreSQL: PG_CONFIG from the environment or the command line, else
# pg_config on the PATH (on Debian a wrapper that runs the newest installed
# server's pg_config), else Debian's PostgreSQL 15.  Only PostgreSQL 15 is
# supported.  Before `make deps` has installed PostgreSQL there is no
# pg_config: then only the project's own goals (deps, and test/demo/bench,
# which run deps first) work.
PG_MAJOR_SUPPORTED = 15
PG_CONFIG_DEBIAN = /usr/lib/postgresql/$(PG_MAJOR_SUPPORTED)/bin/pg_config
ifeq ($(strip $(PG_CONFIG)),)
PG_CONFIG := $(firstword $(shell command -v pg_config 2>/dev/null) $(wildcard $(PG_CONFIG_DEBIAN)))
endif
PG_VERSION_FOUND := $(if $(PG_CONFIG),$(shell $(PG_CONFIG) --version 2>/dev/null))
PG_MAJOR := $(shell echo '$(PG_VERSION_FOUND)' | sed -n 's/^PostgreSQL \([0-9][0-9]*\).*/\1/p')
PG_CONFIG_HINT = set PG_CONFIG to the pg_config of a PostgreSQL $(PG_MAJOR_SUPPORTED) installation, e.g. make PG_CONFIG=$(PG_CONFIG_DEBIAN) (Debian package postgresql-server-dev-$(PG_MAJOR_SUPPORTED); make deps installs it)
# goals that work without PostgreSQL's build files
NO_PGXS_GOALS = deps demo stop test fuzz bench bench-citus
GOALS = $(or $(MAKECMDGOALS),all)

ifeq ($(PG_MAJOR),)
NO_PGXS_YET = 1
ifneq ($(filter-out $(NO_PGXS_GOALS),$(GOALS)),)
$(error no usable pg_config (PG_CONFIG=$(or $(PG_CONFIG),<none found on the PATH nor at $(PG_CONFIG_DEBIAN)>)): run make deps as root to install PostgreSQL $(PG_MAJOR_SUPPORTED), or $(PG_CONFIG_HINT))
endif
else ifneq ($(PG_MAJOR),$(PG_MAJOR_SUPPORTED))
NO_PGXS_YET = 1
ifneq ($(filter-out deps stop,$(GOALS)),)
$(error bulkorder supports PostgreSQL $(PG_MAJOR_SUPPORTED) only, but PG_CONFIG=$(PG_CONFIG) is $(PG_VERSION_FOUND): $(PG_CONFIG_HINT))
endif
else
PGXS := $(shell $(PG_CONFIG) --pgxs)
ifeq ($(wildcard $(PGXS)),)
NO_PGXS_YET = 1
ifneq ($(filter-out $(NO_PGXS_GOALS),$(GOALS)),)
$(error PG_CONFIG=$(PG_CONFIG) ($(PG_VERSION_FOUND)) has no PGXS at $(or $(PGXS),<none>): install postgresql-server-dev-$(PG_MAJOR_SUPPORTED) (make deps), or $(PG_CONFIG_HINT))
endif
else
include $(PGXS)
endif
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

$(EXTENSION)--%--$(EXTVERSION).sql: extension/sql/upgrades/%--$(EXTVERSION).sql $(UPGRADE_SHOP_SQL) $(CODE_SQL) $(EXTENSION).control Makefile
	{ echo '-- Generated from extension/sql by make: edit the sources, not this file.'; \
	  printf '%s\n' '\echo Use "ALTER EXTENSION $(EXTENSION) UPDATE TO '"'"'$(EXTVERSION)'"'"'" to load this file. \quit'; \
	  $(call sql_cat,,$<); \
	  $(call sql_cat,,$(UPGRADE_SHOP_SQL)); \
	  $(call sql_cat,,$(CODE_SQL)); } > $@

# PGXS tracks no header dependencies: every object depends on the shared header.
$(OBJS): extension/include/bulkorder.h extension/include/bulkorder_csv.h
# the library's version (BULKORDER_VERSION) is the control file's
extension/src/version.o: $(EXTENSION).control

.PHONY: deps demo stop test fuzz bench bench-citus check-asan

deps:
	bash tools/deps.sh

demo: deps
	$(MAKE) all
	bash tools/demo.sh

stop:
	bash tools/pg.sh stop demo

# every suite; the fuzz stage runs its fixed seeds (test/stages/fuzz.sh)
test: deps
	$(MAKE) all
	bash tools/test.sh

# the fuzz stage with a new random seed, printed with the command that
# replays it; FUZZ_SECONDS (60) bounds it
fuzz: deps
	$(MAKE) all
	FUZZ_SEED=random bash test/stages/fuzz.sh

# then the Citus path (bench/citus.sh; skipped without ../shared/vendor)
bench: deps
	$(MAKE) all
	bash bench/run.sh
	bash bench/citus.sh

bench-citus: deps
	$(MAKE) all
	bash bench/citus.sh

# the extension built with ASan + UBSan in a copy of its own (.pg/asan), the
# suites against a server with the runtime preloaded (README, "Development")
check-asan: deps
	bash tools/asan.sh

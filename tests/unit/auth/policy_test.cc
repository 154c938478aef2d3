#include "auth/policy.h"

#include <memory>

#include <gtest/gtest.h>

namespace eddy::auth {
namespace {

Claims MakeClaims(std::string role, std::string sub = "user-1") {
  Claims c;
  c.sub = sub;
  c.role = role;
  c.values["sub"] = sub;
  c.values["role"] = role;
  return c;
}

Grant Check(const Policy& policy, const Claims& claims, std::string_view table,
            const std::vector<std::string>& ops = {}) {
  Result<Grant> grant = policy.CheckSubscribe(claims, "public", table, ops);
  EXPECT_TRUE(grant.ok()) << grant.status().ToString();
  return grant.ok() ? *grant : Grant{};
}

TEST(PolicyTest, AllowsListedRoleAndDeniesOthers) {
  Policy policy({{.table = "public.songs", .roles = {"editor", "admin"}}});
  EXPECT_TRUE(Check(policy, MakeClaims("editor"), "songs").allowed);
  EXPECT_TRUE(Check(policy, MakeClaims("admin"), "songs").allowed);
  const Grant denied = Check(policy, MakeClaims("anon"), "songs");
  EXPECT_FALSE(denied.allowed);
  EXPECT_EQ(denied.reason, "no rule allows role anon to watch public.songs");
  // No rule for the table at all.
  EXPECT_EQ(Check(policy, MakeClaims("admin"), "albums").reason,
            "no rule allows role admin to watch public.albums");
  // No rules at all.
  EXPECT_FALSE(Check(Policy({}), MakeClaims("admin"), "songs").allowed);
}

TEST(PolicyTest, OpsMustBeASubsetOfTheRule) {
  Policy policy({{.table = "public.songs", .ops = {"insert", "update"}}});
  EXPECT_TRUE(Check(policy, MakeClaims("x"), "songs", {"insert"}).allowed);
  EXPECT_TRUE(Check(policy, MakeClaims("x"), "songs", {"insert", "update"}).allowed);
  const Grant del = Check(policy, MakeClaims("x"), "songs", {"insert", "delete"});
  EXPECT_FALSE(del.allowed);
  EXPECT_EQ(del.reason, "role x may not watch delete on public.songs");
  // Asking for everything is more than the rule allows.
  EXPECT_FALSE(Check(policy, MakeClaims("x"), "songs").allowed);
  // A rule without ops allows them all.
  Policy all({{.table = "public.songs"}});
  EXPECT_TRUE(Check(all, MakeClaims("x"), "songs").allowed);
  EXPECT_TRUE(Check(all, MakeClaims("x"), "songs", {"truncate"}).allowed);
}

TEST(PolicyTest, MalformedRequestsAreErrors) {
  Policy policy({{.table = "*"}});
  Result<Grant> bad_op = policy.CheckSubscribe(MakeClaims("x"), "public", "songs", {"upsert"});
  ASSERT_FALSE(bad_op.ok());
  EXPECT_EQ(bad_op.status().code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(policy.CheckSubscribe(MakeClaims("x"), "", "songs", {}).ok());
  EXPECT_FALSE(policy.CheckSubscribe(MakeClaims("x"), "public", "", {}).ok());
}

TEST(PolicyTest, WildcardAndSpecificity) {
  Policy policy({
      {.table = "*", .roles = {"admin"}},
      {.table = "*", .ops = {"insert"}},
      {.table = "public.songs", .roles = {"editor"}},
      {.table = "public.albums", .ops = {"insert", "update"}},
      {.table = "public.albums", .roles = {"admin"}, .ops = {"delete"}},
  });
  // "*" rules: admin sees everything on other tables, others only inserts.
  EXPECT_TRUE(Check(policy, MakeClaims("admin"), "artists").allowed);
  EXPECT_TRUE(Check(policy, MakeClaims("anon"), "artists", {"insert"}).allowed);
  EXPECT_FALSE(Check(policy, MakeClaims("anon"), "artists", {"update"}).allowed);
  // public.songs has its own rule: "*" no longer applies to it, even for admin.
  EXPECT_TRUE(Check(policy, MakeClaims("editor"), "songs").allowed);
  EXPECT_FALSE(Check(policy, MakeClaims("admin"), "songs").allowed);
  EXPECT_FALSE(Check(policy, MakeClaims("anon"), "songs", {"insert"}).allowed);
  // public.albums: the rule naming the role beats the any-role rule.
  EXPECT_TRUE(Check(policy, MakeClaims("admin"), "albums", {"delete"}).allowed);
  EXPECT_FALSE(Check(policy, MakeClaims("admin"), "albums", {"insert"}).allowed);
  EXPECT_TRUE(Check(policy, MakeClaims("anon"), "albums", {"update"}).allowed);
  EXPECT_FALSE(Check(policy, MakeClaims("anon"), "albums", {"delete"}).allowed);
  EXPECT_TRUE(Policy::Validate(policy.rules()).ok());
}

TEST(PolicyTest, WildcardRequests) {
  const Claims anon = MakeClaims("anon");
  auto check = [&](const Policy& p, std::string_view schema, std::string_view table) {
    Result<Grant> g = p.CheckSubscribe(anon, schema, table, {});
    EXPECT_TRUE(g.ok());
    return g.ok() ? *g : Grant{};
  };
  // Only "*" rules: they decide for every table.
  Policy open({{.table = "*", .row_claim = "sub", .row_column = "owner_id"}});
  const Grant all = check(open, "*", "*");
  EXPECT_TRUE(all.allowed) << all.reason;
  EXPECT_EQ(all.row_column, "owner_id");
  EXPECT_TRUE(check(open, "public", "*").allowed);
  EXPECT_FALSE(
      check(Policy(std::vector<TableRule>{{.table = "*", .roles = {"admin"}}}), "*", "*").allowed);
  // A table with rules of its own cannot be bypassed by watching everything.
  Policy guarded({{.table = "*"}, {.table = "private.keys", .roles = {"admin"}}});
  const Grant denied = check(guarded, "*", "*");
  EXPECT_FALSE(denied.allowed);
  EXPECT_EQ(denied.reason,
            "role anon may not watch *.*: private.keys has rules of its own; name the table to "
            "watch");
  EXPECT_FALSE(check(guarded, "private", "*").allowed);
  EXPECT_TRUE(check(guarded, "public", "*").allowed);  // private.keys is out of scope
  EXPECT_TRUE(check(guarded, "public", "songs").allowed);
}

TEST(PolicyTest, RowRuleNeedsTheClaim) {
  Policy policy({{.table = "public.songs", .row_claim = "sub", .row_column = "owner_id"}});
  const Grant grant = Check(policy, MakeClaims("authenticated", "u-42"), "songs");
  ASSERT_TRUE(grant.allowed) << grant.reason;
  EXPECT_EQ(grant.row_column, "owner_id");
  EXPECT_EQ(grant.row_value, "u-42");

  Claims no_sub;
  no_sub.role = "authenticated";
  const Grant denied = Check(policy, no_sub, "songs");
  EXPECT_FALSE(denied.allowed);
  EXPECT_EQ(denied.reason,
            "the token has no claim \"sub\", which the row rule on public.songs needs");
}

TEST(PolicyTest, ValidateRejectsBadRules) {
  EXPECT_TRUE(Policy::Validate({{.table = "*"}, {.table = "public.songs"}}).ok());
  EXPECT_FALSE(Policy::Validate({{.table = "songs"}}).ok());
  EXPECT_FALSE(Policy::Validate({{.table = "public.*"}}).ok());
  EXPECT_FALSE(Policy::Validate({{.table = ""}}).ok());
  EXPECT_FALSE(Policy::Validate({{.table = "*", .ops = {"select"}}}).ok());
  EXPECT_FALSE(Policy::Validate({{.table = "*", .roles = {""}}}).ok());
  EXPECT_FALSE(Policy::Validate({{.table = "*", .row_claim = "sub"}}).ok());
  const Status overlap = Policy::Validate(
      {{.table = "public.a", .roles = {"x", "y"}}, {.table = "public.a", .roles = {"y"}}});
  ASSERT_FALSE(overlap.ok());
  EXPECT_NE(overlap.message().find("auth rule 2: overlaps rule 1"), std::string::npos);
  EXPECT_FALSE(Policy::Validate({{.table = "*"}, {.table = "*"}}).ok());
  EXPECT_TRUE(Policy::Validate({{.table = "*", .roles = {"x"}}, {.table = "*"}}).ok());
}

class RowRuleTest : public ::testing::Test {
 protected:
  RowRuleTest() {
    auto table = std::make_shared<Table>();
    table->relation_id = RelationId(16384);
    table->schema = "public";
    table->name = "songs";
    table->columns = {
        {.name = "id",
         .type_oid = 23,
         .type_name = "int4",
         .kind = TypeKind::kInt32,
         .is_key = true},
        {.name = "owner_id", .type_oid = 25, .type_name = "text"},
    };
    table_ = table;
    grant_ = Check(policy_, MakeClaims("authenticated", "u-42"), "songs");
  }

  Change Make(Op op, std::vector<Value> new_row, std::vector<Value> old_row = {},
              OldRow old_kind = OldRow::kNone) const {
    Change c;
    c.op = op;
    c.table = table_;
    c.new_row = std::move(new_row);
    c.old_row = std::move(old_row);
    c.old_kind = old_kind;
    return c;
  }

  Policy policy_{{{.table = "public.songs", .row_claim = "sub", .row_column = "owner_id"}}};
  std::shared_ptr<const Table> table_;
  Grant grant_;
};

TEST_F(RowRuleTest, AllowsOwnRowsOnly) {
  ASSERT_TRUE(grant_.allowed);
  const Value id = Value::Text("1");
  EXPECT_TRUE(Policy::RowAllowed(grant_, Make(Op::kInsert, {id, Value::Text("u-42")})));
  EXPECT_FALSE(Policy::RowAllowed(grant_, Make(Op::kInsert, {id, Value::Text("u-7")})));
  EXPECT_FALSE(Policy::RowAllowed(grant_, Make(Op::kInsert, {id, Value::Text("U-42")})));
  EXPECT_FALSE(Policy::RowAllowed(grant_, Make(Op::kInsert, {id, Value::Null()})));
  // Updates: judged by the new row.
  EXPECT_TRUE(Policy::RowAllowed(grant_, Make(Op::kUpdate, {id, Value::Text("u-42")})));
  EXPECT_FALSE(Policy::RowAllowed(grant_, Make(Op::kUpdate, {id, Value::Text("u-7")},
                                               {id, Value::Text("u-42")}, OldRow::kFull)));
  EXPECT_FALSE(Policy::RowAllowed(grant_, Make(Op::kUpdate, {id, Value::Unchanged()})));
}

TEST_F(RowRuleTest, DeletesNeedTheColumnInTheOldRow) {
  const Value id = Value::Text("1");
  // REPLICA IDENTITY FULL: the old row has owner_id.
  EXPECT_TRUE(
      Policy::RowAllowed(grant_, Make(Op::kDelete, {}, {id, Value::Text("u-42")}, OldRow::kFull)));
  EXPECT_FALSE(
      Policy::RowAllowed(grant_, Make(Op::kDelete, {}, {id, Value::Text("u-7")}, OldRow::kFull)));
  // REPLICA IDENTITY DEFAULT: key columns only, owner_id is NULL: not delivered.
  EXPECT_FALSE(
      Policy::RowAllowed(grant_, Make(Op::kDelete, {}, {id, Value::Null()}, OldRow::kKey)));
  EXPECT_FALSE(Policy::RowAllowed(grant_, Make(Op::kDelete, {}, {}, OldRow::kNone)));
  // Truncate has no row.
  EXPECT_FALSE(Policy::RowAllowed(grant_, Make(Op::kTruncate, {})));
}

TEST_F(RowRuleTest, EdgeCases) {
  // No row rule: everything passes.
  Grant open = Check(Policy({{.table = "*"}}), MakeClaims("x"), "songs");
  EXPECT_TRUE(Policy::RowAllowed(open, Make(Op::kTruncate, {})));
  // A denied grant lets nothing through.
  EXPECT_FALSE(
      Policy::RowAllowed(Grant{}, Make(Op::kInsert, {Value::Text("1"), Value::Text("u-42")})));
  // The column is not in the table (e.g. a later schema version dropped it), or the row is short.
  Grant other = grant_;
  other.row_column = "author_id";
  EXPECT_FALSE(
      Policy::RowAllowed(other, Make(Op::kInsert, {Value::Text("1"), Value::Text("u-42")})));
  EXPECT_FALSE(Policy::RowAllowed(grant_, Make(Op::kInsert, {Value::Text("1")})));
  Change no_table;
  EXPECT_FALSE(Policy::RowAllowed(grant_, no_table));
}

}  // namespace
}  // namespace eddy::auth

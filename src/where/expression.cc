#include "where/expression.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace eddy::where {
namespace {

constexpr int64_t kMicrosPerDay = 86400LL * 1000000;

Value TextValue(std::string text) {
  Value v;
  v.null = false;
  v.text = std::move(text);
  return v;
}

// 1 + the length of the UTF-8 sequence starting at s[i] beyond its first byte.
size_t CharLength(std::string_view s, size_t i) {
  auto c = static_cast<unsigned char>(s[i]);
  size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 1;
  return std::min(n, s.size() - i);
}

char AsciiLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }
char AsciiUpper(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c; }

// LIKE with `%`, `_` and `\` escapes; nullopt when the pattern ends with a lone escape
// (PostgreSQL raises an error there).
std::optional<bool> LikeMatch(std::string_view text, std::string_view pattern, bool fold_case) {
  enum class TokenKind { kLiteral, kOne, kAny };
  struct Token {
    TokenKind kind;
    char c;
  };
  std::vector<Token> tokens;
  for (size_t i = 0; i < pattern.size(); ++i) {
    char c = pattern[i];
    if (c == '\\') {
      if (++i >= pattern.size()) return std::nullopt;
      tokens.push_back({TokenKind::kLiteral, fold_case ? AsciiLower(pattern[i]) : pattern[i]});
    } else if (c == '%') {
      if (tokens.empty() || tokens.back().kind != TokenKind::kAny) {
        tokens.push_back({TokenKind::kAny, 0});
      }
    } else if (c == '_') {
      tokens.push_back({TokenKind::kOne, 0});
    } else {
      tokens.push_back({TokenKind::kLiteral, fold_case ? AsciiLower(c) : c});
    }
  }
  size_t ti = 0, pi = 0, star_pi = std::string_view::npos, star_ti = 0;
  while (ti < text.size()) {
    char c = fold_case ? AsciiLower(text[ti]) : text[ti];
    if (pi < tokens.size() && tokens[pi].kind == TokenKind::kOne) {
      ti += CharLength(text, ti);
      ++pi;
    } else if (pi < tokens.size() && tokens[pi].kind == TokenKind::kLiteral && tokens[pi].c == c) {
      ++ti, ++pi;
    } else if (pi < tokens.size() && tokens[pi].kind == TokenKind::kAny) {
      star_pi = pi++;
      star_ti = ti;
    } else if (star_pi != std::string_view::npos) {
      pi = star_pi + 1;
      star_ti += CharLength(text, star_ti);
      ti = star_ti;
    } else {
      return false;
    }
  }
  while (pi < tokens.size() && tokens[pi].kind == TokenKind::kAny) ++pi;
  return pi == tokens.size();
}

std::optional<bool> CompareResult(std::string_view op, int c) {
  if (op == "=") return c == 0;
  if (op == "<>") return c != 0;
  if (op == "<") return c < 0;
  if (op == ">") return c > 0;
  if (op == "<=") return c <= 0;
  if (op == ">=") return c >= 0;
  return std::nullopt;
}

// NULL when either side is NULL or the values do not compare.
Value CompareValuesOp(std::string_view op, const Type& type, const Value& a, const Value& b) {
  if (a.null || b.null) return Value::Null();
  auto c = CompareValues(type, a, b);
  if (!c) return Value::Null();
  // jsonb compares for equality only (CompareValues gives 0 or 1).
  auto r = CompareResult(op, *c);
  return r ? Value::Bool(*r) : Value::Null();
}

bool FitsInteger(TypeKind kind, Int128 v) {
  switch (kind) {
    case TypeKind::kInt2:
      return v >= -32768 && v <= 32767;
    case TypeKind::kInt4:
      return v >= std::numeric_limits<int32_t>::min() && v <= std::numeric_limits<int32_t>::max();
    default:
      return v >= std::numeric_limits<int64_t>::min() && v <= std::numeric_limits<int64_t>::max();
  }
}

// Adds a calendar interval to a timestamp in micros (months first, then days, then time), as
// timestamp_pl_interval does under TimeZone=UTC.
std::optional<int64_t> AddInterval(int64_t micros, const Interval& iv, int sign) {
  if (micros == std::numeric_limits<int64_t>::max() ||
      micros == std::numeric_limits<int64_t>::min())
    return micros;
  int64_t days =
      micros >= 0 ? micros / kMicrosPerDay : -((-micros + kMicrosPerDay - 1) / kMicrosPerDay);
  int64_t time = micros - days * kMicrosPerDay;
  if (iv.months != 0) {
    // civil date from days since 1970-01-01
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = yoe + era * 400;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t d = doy - (153 * mp + 2) / 5 + 1;
    int64_t m = mp < 10 ? mp + 3 : mp - 9;
    y += m <= 2;
    int64_t total = y * 12 + (m - 1) + sign * iv.months;
    if (total < -5000 * 12 || total > 300000 * 12) return std::nullopt;
    y = total >= 0 ? total / 12 : -((-total + 11) / 12);
    m = total - y * 12 + 1;
    static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    int64_t dim = (m == 2 && leap) ? 29 : kDays[m - 1];
    d = std::min(d, dim);
    int64_t yy = y - (m <= 2);
    int64_t era2 = (yy >= 0 ? yy : yy - 399) / 400;
    int64_t yoe2 = yy - era2 * 400;
    int64_t doy2 = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe2 = yoe2 * 365 + yoe2 / 4 - yoe2 / 100 + doy2;
    days = era2 * 146097 + doe2 - 719468;
  }
  Int128 result = static_cast<Int128>(days) * kMicrosPerDay + time +
                  static_cast<Int128>(sign) * iv.days * kMicrosPerDay +
                  static_cast<Int128>(sign) * iv.micros;
  if (result >= std::numeric_limits<int64_t>::max() ||
      result <= std::numeric_limits<int64_t>::min())
    return std::nullopt;
  return static_cast<int64_t>(result);
}

Value Arith(const Expr& expr, const Value& a, const Value& b) {
  const Type& lt = expr.args[0]->type;
  const Type& rt = expr.args[1]->type;
  const std::string& op = expr.op;
  Value v;
  v.null = false;
  TypeKind result = expr.type.kind;
  if (lt.kind == TypeKind::kDate && IsInteger(rt.kind)) {  // date +/- integer
    Int128 days = static_cast<Int128>(a.integer) + (op == "+" ? b.integer : -b.integer);
    if (days > 100000000 || days < -100000000) return Value::Null();
    v.integer = static_cast<int64_t>(days);
    return v;
  }
  if (IsInteger(lt.kind) && rt.kind == TypeKind::kDate) {  // integer + date
    v.integer = a.integer + b.integer;
    return v;
  }
  if (lt.kind == TypeKind::kDate && rt.kind == TypeKind::kDate) {  // date - date
    Int128 d = static_cast<Int128>(a.integer) - b.integer;
    if (!FitsInteger(TypeKind::kInt4, d)) return Value::Null();
    v.integer = static_cast<int64_t>(d);
    return v;
  }
  if (rt.kind == TypeKind::kInterval && lt.kind != TypeKind::kInterval) {  // timestamp +- interval
    int64_t base = lt.kind == TypeKind::kDate ? a.integer * kMicrosPerDay : a.integer;
    auto r = AddInterval(base, b.interval, op == "+" ? 1 : -1);
    if (!r) return Value::Null();
    v.integer = *r;
    return v;
  }
  if (lt.kind == TypeKind::kInterval && rt.kind == TypeKind::kInterval) {
    int sign = op == "+" ? 1 : -1;
    v.interval.months = a.interval.months + sign * b.interval.months;
    v.interval.days = a.interval.days + sign * b.interval.days;
    v.interval.micros = a.interval.micros + sign * b.interval.micros;
    return v;
  }
  if (IsInteger(result)) {
    Int128 x = a.integer, y = b.integer, r = 0;
    if (op == "+") {
      r = x + y;
    } else if (op == "-") {
      r = x - y;
    } else if (op == "*") {
      r = x * y;
    } else if (op == "/" || op == "%") {
      if (y == 0) return Value::Null();  // PostgreSQL: division by zero error
      r = op == "/" ? x / y : x % y;
    }
    if (!FitsInteger(result, r)) return Value::Null();  // PostgreSQL: out of range error
    v.integer = static_cast<int64_t>(r);
    return v;
  }
  double x = a.real, y = b.real, r = 0;
  if (op == "+") {
    r = x + y;
  } else if (op == "-") {
    r = x - y;
  } else if (op == "*") {
    r = x * y;
  } else if (op == "/") {
    if (y == 0) return Value::Null();
    r = x / y;
  } else if (op == "%") {
    if (y == 0) return Value::Null();
    r = std::fmod(x, y);
  }
  if (result == TypeKind::kFloat4) r = static_cast<double>(static_cast<float>(r));
  if (std::isinf(r) && !std::isinf(x) && !std::isinf(y)) return Value::Null();  // overflow error
  v.real = r;
  return v;
}

Value JsonGet(const Expr& expr, const Value& json, const Value& key) {
  if (json.null || key.null || !json.json) return Value::Null();
  const JsonValue* found = IsInteger(expr.args[1]->type.kind) ? json.json->Element(key.integer)
                                                              : json.json->Member(key.text);
  if (found == nullptr) return Value::Null();
  if (expr.op == "->>") {
    auto text = found->AsText();
    return text ? TextValue(std::move(*text)) : Value::Null();
  }
  Value v;
  v.null = false;
  v.json = std::make_shared<const JsonValue>(*found);
  return v;
}

Value ArrayOp(const Expr& expr, const Value& a, const Value& b) {
  if (a.null || b.null || !a.array || !b.array) return Value::Null();
  Type element = expr.args[0]->type.Element();
  auto contains = [&](const ArrayValue& big, const ArrayValue& small) {
    for (const Value& want : small.items) {
      if (want.null) return false;  // NULL elements never match
      bool found = false;
      for (const Value& have : big.items) {
        if (!have.null && ValuesEqual(element, have, want)) {
          found = true;
          break;
        }
      }
      if (!found) return false;
    }
    return true;
  };
  if (expr.op == "@>") return Value::Bool(contains(*a.array, *b.array));
  if (expr.op == "<@") return Value::Bool(contains(*b.array, *a.array));
  for (const Value& x : a.array->items) {  // &&
    if (x.null) continue;
    for (const Value& y : b.array->items) {
      if (!y.null && ValuesEqual(element, x, y)) return Value::Bool(true);
    }
  }
  return Value::Bool(false);
}

// x [NOT] IN / op ANY / op ALL over `items`, three-valued.
Value Quantified(std::string_view op, const Type& type, const Value& x,
                 const std::vector<const Value*>& items, bool all) {
  bool saw_null = x.null;
  if (!x.null) {
    for (const Value* item : items) {
      Value r = CompareValuesOp(op, type, x, *item);
      if (r.null) {
        saw_null = true;
      } else if (r.boolean != all) {
        return Value::Bool(!all);
      }
    }
  }
  if (items.empty()) return Value::Bool(all);
  if (saw_null) return Value::Null();
  return Value::Bool(all);
}

void AppendList(const std::vector<std::unique_ptr<Expr>>& args, size_t from,
                std::span<const ColumnType> columns, std::string& out) {
  for (size_t i = from; i < args.size(); ++i) {
    if (i > from) out += ", ";
    AppendSql(*args[i], columns, out);
  }
}

constexpr const char* kCollateC = " COLLATE \"C\"";

}  // namespace

std::string QuoteIdentifier(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

std::string QuoteLiteral(std::string_view text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') out += '\'';
    out += c;
  }
  out += '\'';
  return out;
}

Value Evaluate(const Expr& expr, RowValues row, std::span<const Type> column_types) {
  auto eval = [&](size_t i) { return Evaluate(*expr.args[i], row, column_types); };
  switch (expr.kind) {
    case ExprKind::kConst:
      return expr.constant;
    case ExprKind::kColumn: {
      auto index = static_cast<size_t>(expr.column);
      if (index >= row.size() || !row[index]) return Value::Null();
      auto v = ParseValue(expr.type, *row[index]);
      return v ? std::move(*v) : Value::Null();
    }
    case ExprKind::kAnd:
    case ExprKind::kOr: {
      bool is_and = expr.kind == ExprKind::kAnd;
      bool saw_null = false;
      for (size_t i = 0; i < expr.args.size(); ++i) {
        Value v = eval(i);
        if (v.null) {
          saw_null = true;
        } else if (v.boolean != is_and) {
          return Value::Bool(!is_and);
        }
      }
      return saw_null ? Value::Null() : Value::Bool(is_and);
    }
    case ExprKind::kNot: {
      Value v = eval(0);
      return v.null ? v : Value::Bool(!v.boolean);
    }
    case ExprKind::kCompare:
      return CompareValuesOp(expr.op, expr.args[0]->type, eval(0), eval(1));
    case ExprKind::kDistinct: {
      Value a = eval(0), b = eval(1);
      bool distinct = false;
      if (a.null || b.null) {
        distinct = a.null != b.null;
      } else {
        auto c = CompareValues(expr.args[0]->type, a, b);
        distinct = !c || *c != 0;
      }
      return Value::Bool(expr.negated ? !distinct : distinct);
    }
    case ExprKind::kIsNull: {
      bool is_null = eval(0).null;
      return Value::Bool(expr.negated ? !is_null : is_null);
    }
    case ExprKind::kBoolTest: {
      Value v = eval(0);
      bool r = expr.op == "TRUE"    ? (!v.null && v.boolean)
               : expr.op == "FALSE" ? (!v.null && !v.boolean)
                                    : v.null;
      return Value::Bool(expr.negated ? !r : r);
    }
    case ExprKind::kIn: {
      Value x = eval(0);
      std::vector<Value> values;
      values.reserve(expr.args.size() - 1);
      for (size_t i = 1; i < expr.args.size(); ++i) values.push_back(eval(i));
      std::vector<const Value*> items;
      for (const Value& v : values) items.push_back(&v);
      Value r = Quantified("=", expr.args[0]->type, x, items, false);
      if (expr.negated && !r.null) r.boolean = !r.boolean;
      return r;
    }
    case ExprKind::kBetween: {
      Value x = eval(0), low = eval(1), high = eval(2);
      const Type& type = expr.args[0]->type;
      auto between = [&](const Value& lo, const Value& hi) {
        Value a = CompareValuesOp(">=", type, x, lo);
        Value b = CompareValuesOp("<=", type, x, hi);
        if ((!a.null && !a.boolean) || (!b.null && !b.boolean)) return Value::Bool(false);
        if (a.null || b.null) return Value::Null();
        return Value::Bool(true);
      };
      Value r = between(low, high);
      if (expr.symmetric && !(!r.null && r.boolean)) {
        Value s = between(high, low);
        if (!s.null && s.boolean) {
          r = s;
        } else if (s.null) {
          r = Value::Null();
        }
      }
      if (expr.negated && !r.null) r.boolean = !r.boolean;
      return r;
    }
    case ExprKind::kLike: {
      Value text = eval(0), pattern = eval(1);
      if (text.null || pattern.null) return Value::Null();
      auto m = LikeMatch(text.text, pattern.text, expr.op == "ILIKE");
      if (!m) return Value::Null();
      return Value::Bool(expr.negated ? !*m : *m);
    }
    case ExprKind::kAnyAll: {
      Value x = eval(0), array = eval(1);
      if (array.null || !array.array) return Value::Null();
      std::vector<const Value*> items;
      for (const Value& v : array.array->items) items.push_back(&v);
      return Quantified(expr.op, expr.args[0]->type, x, items, expr.all);
    }
    case ExprKind::kArith: {
      Value a = eval(0), b = eval(1);
      if (a.null || b.null) return Value::Null();
      return Arith(expr, a, b);
    }
    case ExprKind::kNegate: {
      Value a = eval(0);
      if (a.null) return a;
      if (IsInteger(expr.type.kind)) {
        if (!FitsInteger(expr.type.kind, -static_cast<Int128>(a.integer))) return Value::Null();
        a.integer = -a.integer;
      } else if (expr.type.kind == TypeKind::kInterval) {
        a.interval = {-a.interval.months, -a.interval.days, -a.interval.micros};
      } else {
        a.real = -a.real;
        if (!a.text.empty()) a.text = a.text[0] == '-' ? a.text.substr(1) : "-" + a.text;
      }
      return a;
    }
    case ExprKind::kTextConcat: {
      Value a = eval(0), b = eval(1);
      if (a.null || b.null) return Value::Null();
      return TextValue(FormatValue(expr.args[0]->type, a) + FormatValue(expr.args[1]->type, b));
    }
    case ExprKind::kFunction: {
      if (expr.op == "lower" || expr.op == "upper") {
        Value a = eval(0);
        if (a.null) return a;
        for (char& c : a.text) c = expr.op == "lower" ? AsciiLower(c) : AsciiUpper(c);
        return a;
      }
      if (expr.op == "coalesce") {
        for (size_t i = 0; i < expr.args.size(); ++i) {
          Value v = eval(i);
          if (!v.null) return v;
        }
        return Value::Null();
      }
      if (expr.op == "concat") {
        std::string out;
        for (size_t i = 0; i < expr.args.size(); ++i) {
          Value v = eval(i);
          if (!v.null) out += FormatValue(expr.args[i]->type, v);
        }
        return TextValue(std::move(out));
      }
      // greatest / least: NULLs ignored.
      bool greatest = expr.op == "greatest";
      Value best;
      for (size_t i = 0; i < expr.args.size(); ++i) {
        Value v = eval(i);
        if (v.null) continue;
        if (best.null) {
          best = std::move(v);
          continue;
        }
        auto c = CompareValues(expr.type, v, best);
        if (c && (greatest ? *c > 0 : *c < 0)) best = std::move(v);
      }
      return best;
    }
    case ExprKind::kCast: {
      Value a = eval(0);
      if (a.null) return a;
      auto v = ConvertValue(a, expr.args[0]->type, expr.type);
      return v ? std::move(*v) : Value::Null();
    }
    case ExprKind::kJsonGet:
      return JsonGet(expr, eval(0), eval(1));
    case ExprKind::kJsonContains: {
      Value a = eval(0), b = eval(1);
      if (a.null || b.null || !a.json || !b.json) return Value::Null();
      return Value::Bool(expr.op == "@>" ? a.json->Contains(*b.json) : b.json->Contains(*a.json));
    }
    case ExprKind::kJsonHasKey: {
      Value a = eval(0), b = eval(1);
      if (a.null || b.null || !a.json) return Value::Null();
      return Value::Bool(a.json->HasKey(b.text));
    }
    case ExprKind::kArrayOp:
      return ArrayOp(expr, eval(0), eval(1));
    case ExprKind::kArrayCtor: {
      auto array = std::make_shared<ArrayValue>();
      for (size_t i = 0; i < expr.args.size(); ++i) array->items.push_back(eval(i));
      if (!array->items.empty()) array->dims = {static_cast<int>(array->items.size())};
      Value v;
      v.null = false;
      v.array = std::move(array);
      return v;
    }
  }
  return Value::Null();
}

void AppendSql(const Expr& expr, std::span<const ColumnType> columns, std::string& out) {
  auto arg = [&](size_t i) { AppendSql(*expr.args[i], columns, out); };
  const char* collate = expr.collate_c ? kCollateC : "";
  switch (expr.kind) {
    case ExprKind::kConst:
      if (expr.constant.null) {
        out += "NULL::" + TypeSqlName(expr.type);
      } else {
        out += QuoteLiteral(FormatValue(expr.type, expr.constant));
        out += "::" + TypeSqlName(expr.type);
      }
      return;
    case ExprKind::kColumn:
      out += QuoteIdentifier(columns[static_cast<size_t>(expr.column)].name);
      return;
    case ExprKind::kAnd:
    case ExprKind::kOr:
      out += '(';
      for (size_t i = 0; i < expr.args.size(); ++i) {
        if (i > 0) out += expr.kind == ExprKind::kAnd ? " AND " : " OR ";
        arg(i);
      }
      out += ')';
      return;
    case ExprKind::kNot:
      out += "(NOT ";
      arg(0);
      out += ')';
      return;
    case ExprKind::kCompare:
    case ExprKind::kArith:
    case ExprKind::kJsonGet:
    case ExprKind::kJsonContains:
    case ExprKind::kJsonHasKey:
    case ExprKind::kArrayOp:
      out += '(';
      arg(0);
      out += collate;
      out += ' ' + expr.op + ' ';
      arg(1);
      out += ')';
      return;
    case ExprKind::kTextConcat:
      out += '(';
      arg(0);
      out += " || ";
      arg(1);
      out += ')';
      return;
    case ExprKind::kDistinct:
      out += '(';
      arg(0);
      out += expr.negated ? " IS NOT DISTINCT FROM " : " IS DISTINCT FROM ";
      arg(1);
      out += ')';
      return;
    case ExprKind::kIsNull:
      out += '(';
      arg(0);
      out += expr.negated ? " IS NOT NULL)" : " IS NULL)";
      return;
    case ExprKind::kBoolTest:
      out += '(';
      arg(0);
      out += expr.negated ? " IS NOT " : " IS ";
      out += expr.op + ")";
      return;
    case ExprKind::kIn:
      out += '(';
      arg(0);
      out += expr.negated ? " NOT IN (" : " IN (";
      AppendList(expr.args, 1, columns, out);
      out += "))";
      return;
    case ExprKind::kBetween:
      out += '(';
      arg(0);
      out += collate;
      out += expr.negated ? " NOT BETWEEN " : " BETWEEN ";
      if (expr.symmetric) out += "SYMMETRIC ";
      arg(1);
      out += " AND ";
      arg(2);
      out += ')';
      return;
    case ExprKind::kLike:
      out += '(';
      arg(0);
      out += expr.negated ? " NOT " : " ";
      out += expr.op + " ";
      arg(1);
      out += ')';
      return;
    case ExprKind::kAnyAll:
      out += '(';
      arg(0);
      out += collate;
      out += ' ' + expr.op + (expr.all ? " ALL (" : " ANY (");
      arg(1);
      out += "))";
      return;
    case ExprKind::kNegate:
      out += "(- ";
      arg(0);
      out += ')';
      return;
    case ExprKind::kFunction: {
      std::string name = expr.op;
      if (name == "coalesce" || name == "greatest" || name == "least") {
        for (char& c : name) c = AsciiUpper(c);
      }
      out += name + "(";
      for (size_t i = 0; i < expr.args.size(); ++i) {
        if (i > 0) out += ", ";
        arg(i);
        if (i == 0) out += collate;
      }
      out += ')';
      return;
    }
    case ExprKind::kCast:
      if (expr.implicit) {
        arg(0);
        return;
      }
      out += "CAST(";
      arg(0);
      out += " AS " + TypeSqlName(expr.type) + ")";
      return;
    case ExprKind::kArrayCtor:
      out += "ARRAY[";
      AppendList(expr.args, 0, columns, out);
      out += "]::" + TypeSqlName(expr.type);
      return;
  }
}

}  // namespace eddy::where

#include "change/pg_types.h"

namespace eddy::change {
namespace {

struct BuiltinEntry {
  uint32_t oid;
  const char* name;
  TypeKind kind;
  TypeKind element;
};

constexpr TypeKind kT = TypeKind::kText;

// From PostgreSQL's pg_type.dat (stable OIDs).
constexpr BuiltinEntry kBuiltins[] = {
    {16, "bool", TypeKind::kBool, kT},
    {17, "bytea", TypeKind::kBytea, kT},
    {18, "char", kT, kT},
    {19, "name", kT, kT},
    {20, "int8", TypeKind::kInt64, kT},
    {21, "int2", TypeKind::kInt16, kT},
    {23, "int4", TypeKind::kInt32, kT},
    {24, "regproc", kT, kT},
    {25, "text", kT, kT},
    {26, "oid", TypeKind::kInt64, kT},
    {28, "xid", TypeKind::kInt64, kT},
    {114, "json", TypeKind::kJson, kT},
    {142, "xml", kT, kT},
    {650, "cidr", kT, kT},
    {700, "float4", TypeKind::kFloat32, kT},
    {701, "float8", TypeKind::kFloat64, kT},
    {790, "money", TypeKind::kMoney, kT},
    {829, "macaddr", kT, kT},
    {869, "inet", kT, kT},
    {1042, "bpchar", kT, kT},
    {1043, "varchar", kT, kT},
    {1082, "date", TypeKind::kDate, kT},
    {1083, "time", TypeKind::kTime, kT},
    {1114, "timestamp", TypeKind::kTimestamp, kT},
    {1184, "timestamptz", TypeKind::kTimestampTz, kT},
    {1186, "interval", TypeKind::kInterval, kT},
    {1266, "timetz", TypeKind::kTimeTz, kT},
    {1560, "bit", kT, kT},
    {1562, "varbit", kT, kT},
    {1700, "numeric", TypeKind::kNumeric, kT},
    {2950, "uuid", TypeKind::kUuid, kT},
    {3614, "tsvector", kT, kT},
    {3802, "jsonb", TypeKind::kJson, kT},
    {3904, "int4range", kT, kT},
    {3906, "numrange", kT, kT},
    {3908, "tsrange", kT, kT},
    {3910, "tstzrange", kT, kT},
    {3912, "daterange", kT, kT},
    {3926, "int8range", kT, kT},
    // Arrays.
    {1000, "_bool", TypeKind::kArray, TypeKind::kBool},
    {1001, "_bytea", TypeKind::kArray, TypeKind::kBytea},
    {1002, "_char", TypeKind::kArray, kT},
    {1003, "_name", TypeKind::kArray, kT},
    {1005, "_int2", TypeKind::kArray, TypeKind::kInt16},
    {1007, "_int4", TypeKind::kArray, TypeKind::kInt32},
    {1009, "_text", TypeKind::kArray, kT},
    {1014, "_bpchar", TypeKind::kArray, kT},
    {1015, "_varchar", TypeKind::kArray, kT},
    {1016, "_int8", TypeKind::kArray, TypeKind::kInt64},
    {1021, "_float4", TypeKind::kArray, TypeKind::kFloat32},
    {1022, "_float8", TypeKind::kArray, TypeKind::kFloat64},
    {1028, "_oid", TypeKind::kArray, TypeKind::kInt64},
    {1115, "_timestamp", TypeKind::kArray, TypeKind::kTimestamp},
    {1182, "_date", TypeKind::kArray, TypeKind::kDate},
    {1183, "_time", TypeKind::kArray, TypeKind::kTime},
    {1185, "_timestamptz", TypeKind::kArray, TypeKind::kTimestampTz},
    {1187, "_interval", TypeKind::kArray, TypeKind::kInterval},
    {1231, "_numeric", TypeKind::kArray, TypeKind::kNumeric},
    {1270, "_timetz", TypeKind::kArray, TypeKind::kTimeTz},
    {199, "_json", TypeKind::kArray, TypeKind::kJson},
    {2951, "_uuid", TypeKind::kArray, TypeKind::kUuid},
    {3807, "_jsonb", TypeKind::kArray, TypeKind::kJson},
    {791, "_money", TypeKind::kArray, TypeKind::kMoney},
    {1041, "_inet", TypeKind::kArray, kT},
    {651, "_cidr", TypeKind::kArray, kT},
};

}  // namespace

std::optional<TypeInfo> BuiltinType(uint32_t oid) {
  for (const BuiltinEntry& e : kBuiltins) {
    if (e.oid == oid) return TypeInfo{e.name, e.kind, e.element};
  }
  return std::nullopt;
}

TypeKind KindFromCategory(char typcategory) {
  switch (typcategory) {
    case 'E':
      return TypeKind::kEnum;
    case 'A':
      return TypeKind::kArray;
    case 'B':
      return TypeKind::kBool;
    default:
      return TypeKind::kText;
  }
}

}  // namespace eddy::change

"""The Glue Data Catalog through boto3 and the aws CLI: databases, tables
(storage descriptors, partition keys, versions), partitions one at a time
and in batches (their per-item errors), GetPartitions' expressions,
GetTables' patterns, SearchTables, AWS's errors, deletes that cascade, and
a kill -9 that keeps what was acknowledged."""
import json

import pytest

from conftest import Server, aws_cli, client, client_error, unique_name


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = Server(str(tmp_path_factory.mktemp("glue") / "data")).start()
    yield s
    assert s.stop() == 0, s.logs()


@pytest.fixture(scope="module")
def glue(srv):
    return client("glue", srv.endpoint)


def storage(location, columns=(("id", "bigint"), ("amount", "decimal(10,2)"))):
    return {"Columns": [{"Name": n, "Type": t} for n, t in columns], "Location": location,
            "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
            "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
            "SerdeInfo": {"SerializationLibrary":
                          "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"}}


def orders_table(glue, db, name="orders"):
    glue.create_table(DatabaseName=db, TableInput={
        "Name": name, "Description": "curated orders", "TableType": "EXTERNAL_TABLE",
        "Parameters": {"classification": "parquet"},
        "StorageDescriptor": storage(f"s3://curated/{name}/"),
        "PartitionKeys": [{"Name": "year", "Type": "string"}, {"Name": "month", "Type": "int"}]})


def test_databases(glue, srv):
    """Create (names lower-cased), get, list in pages, update, the errors."""
    name = unique_name("Sales")
    glue.create_database(DatabaseInput={"Name": name, "Description": "d1",
                                        "LocationUri": "s3://curated/"})
    d = glue.get_database(Name=name)["Database"]
    assert d["Name"] == name.lower() and d["Description"] == "d1"
    assert d["CatalogId"] == "000000000000" and d["CreateTime"]
    e = client_error(glue.create_database, DatabaseInput={"Name": name})
    assert e["Error"]["Code"] == "AlreadyExistsException"
    others = [unique_name("db") for _ in range(3)]
    for o in others:
        glue.create_database(DatabaseInput={"Name": o})
    seen, token = [], None
    while True:
        page = glue.get_databases(MaxResults=2, **({"NextToken": token} if token else {}))
        assert len(page["DatabaseList"]) <= 2
        seen += [x["Name"] for x in page["DatabaseList"]]
        token = page.get("NextToken")
        if not token:
            break
    assert set(others + [name.lower()]) <= set(seen) and len(seen) == len(set(seen))
    glue.update_database(Name=name, DatabaseInput={"Name": name, "Description": "d2"})
    d2 = glue.get_database(Name=name)["Database"]
    assert d2["Description"] == "d2" and d2["CreateTime"] == d["CreateTime"]
    e = client_error(glue.get_database, Name="nope-" + name)
    assert e["Error"]["Code"] == "EntityNotFoundException"
    assert "not found" in e["Error"]["Message"]
    out = aws_cli(srv.endpoint, "glue", "get-database", "--name", name).stdout
    assert json.loads(out)["Database"]["Description"] == "d2"


def test_tables(glue):
    """Tables in a database: their storage descriptor and partition keys,
    versions on update, GetTables' pattern, SearchTables, the errors."""
    db = unique_name("tdb")
    glue.create_database(DatabaseInput={"Name": db})
    orders_table(glue, db)
    orders_table(glue, db, "returns")
    t = glue.get_table(DatabaseName=db, Name="ORDERS")["Table"]
    assert t["Name"] == "orders" and t["DatabaseName"] == db
    assert t["StorageDescriptor"]["Columns"][1] == {"Name": "amount", "Type": "decimal(10,2)"}
    assert [k["Name"] for k in t["PartitionKeys"]] == ["year", "month"]
    assert t["VersionId"] == "0" and t["TableType"] == "EXTERNAL_TABLE"
    e = client_error(glue.create_table, DatabaseName=db, TableInput={"Name": "orders"})
    assert e["Error"]["Code"] == "AlreadyExistsException"
    e = client_error(glue.create_table, DatabaseName="nope-" + db, TableInput={"Name": "x"})
    assert e["Error"]["Code"] == "EntityNotFoundException" and "Database" in e["Error"]["Message"]
    found = glue.search_tables(SearchText="curated orders")["TableList"]
    assert {(x["DatabaseName"], x["Name"]) for x in found} >= {(db, "orders"), (db, "returns")}
    # (An update replaces the table's input: its description goes.)
    glue.update_table(DatabaseName=db, TableInput={
        "Name": "orders", "StorageDescriptor": storage("s3://curated/orders-v2/"),
        "PartitionKeys": t["PartitionKeys"]})
    t2 = glue.get_table(DatabaseName=db, Name="orders")["Table"]
    assert t2["VersionId"] == "1" and t2["CreateTime"] == t["CreateTime"]
    assert t2["StorageDescriptor"]["Location"] == "s3://curated/orders-v2/"
    names = [x["Name"] for x in glue.get_tables(DatabaseName=db, Expression="ord.*")["TableList"]]
    assert names == ["orders"]
    assert len(glue.get_tables(DatabaseName=db)["TableList"]) == 2
    e = client_error(glue.get_table, DatabaseName=db, Name="nope")
    assert e["Error"]["Code"] == "EntityNotFoundException"
    out = glue.batch_delete_table(DatabaseName=db, TablesToDelete=["returns", "nope"])
    assert [x["TableName"] for x in out["Errors"]] == ["nope"]
    assert [x["Name"] for x in glue.get_tables(DatabaseName=db)["TableList"]] == ["orders"]


def test_partitions(glue):
    """Partitions: a batch with its per-item errors, one at a time,
    GetPartitions' expressions, deletes, and a table's delete taking its
    partitions."""
    db = unique_name("pdb")
    glue.create_database(DatabaseInput={"Name": db})
    orders_table(glue, db)
    inputs = [{"Values": [y, str(m)], "StorageDescriptor": storage(f"s3://curated/orders/year={y}/month={m}/")}
              for y in ("2023", "2024") for m in range(1, 13)]
    out = glue.batch_create_partition(DatabaseName=db, TableName="orders",
                                      PartitionInputList=inputs + [{"Values": ["2025"]}])
    assert len(out["Errors"]) == 1 and out["Errors"][0]["PartitionValues"] == ["2025"]
    assert out["Errors"][0]["ErrorDetail"]["ErrorCode"] == "InvalidInputException"
    out = glue.batch_create_partition(DatabaseName=db, TableName="orders",
                                      PartitionInputList=inputs[:1])
    assert out["Errors"][0]["ErrorDetail"]["ErrorCode"] == "AlreadyExistsException"
    p = glue.get_partition(DatabaseName=db, TableName="orders", PartitionValues=["2024", "7"])
    assert p["Partition"]["StorageDescriptor"]["Location"].endswith("year=2024/month=7/")
    glue.create_partition(DatabaseName=db, TableName="orders",
                          PartitionInput={"Values": ["2025", "1"]})
    e = client_error(glue.create_partition, DatabaseName=db, TableName="orders",
                     PartitionInput={"Values": ["2025", "1"]})
    assert e["Error"]["Code"] == "AlreadyExistsException"

    def matching(expr):
        got, token = [], None
        while True:
            page = glue.get_partitions(DatabaseName=db, TableName="orders", Expression=expr,
                                       MaxResults=5, **({"NextToken": token} if token else {}))
            got += [tuple(x["Values"]) for x in page["Partitions"]]
            token = page.get("NextToken")
            if not token:
                return sorted(got)
    assert matching("year = '2024' AND month > 9") == [("2024", "10"), ("2024", "11"),
                                                        ("2024", "12")]
    assert len(matching("month BETWEEN 2 AND 4")) == 6  # (month is an int: 10 > 4)
    assert matching("year IN ('2025') OR (year = '2023' AND month = 1)") == [
        ("2023", "1"), ("2025", "1")]
    assert len(matching("NOT year = '2023'")) == 13
    assert len(matching("year LIKE '20%5'")) == 1
    assert len(matching("year <> '2024' and month <= 1")) == 2
    e = client_error(glue.get_partitions, DatabaseName=db, TableName="orders",
                     Expression="colour = 'red'")
    assert e["Error"]["Code"] == "InvalidInputException" and "partition key" in e["Error"]["Message"]
    e = client_error(glue.get_partitions, DatabaseName=db, TableName="orders",
                     Expression="year = '2024' AND")
    assert e["Error"]["Code"] == "InvalidInputException"
    # A key of a number type takes numbers, and no LIKE.
    for expr in ["month = 'june'", "month LIKE '1%'"]:
        e = client_error(glue.get_partitions, DatabaseName=db, TableName="orders",
                         Expression=expr)
        assert e["Error"]["Code"] == "InvalidInputException", expr
    glue.delete_partition(DatabaseName=db, TableName="orders", PartitionValues=["2025", "1"])
    e = client_error(glue.get_partition, DatabaseName=db, TableName="orders",
                     PartitionValues=["2025", "1"])
    assert e["Error"]["Code"] == "EntityNotFoundException"
    out = glue.batch_delete_partition(DatabaseName=db, TableName="orders", PartitionsToDelete=[
        {"Values": ["2023", "1"]}, {"Values": ["1999", "1"]}])
    assert [x["PartitionValues"] for x in out["Errors"]] == [["1999", "1"]]
    assert len(matching("year = '2023'")) == 11
    glue.delete_table(DatabaseName=db, Name="orders")
    orders_table(glue, db)
    assert glue.get_partitions(DatabaseName=db, TableName="orders")["Partitions"] == []
    glue.delete_database(Name=db)
    e = client_error(glue.get_table, DatabaseName=db, Name="orders")
    assert e["Error"]["Code"] == "EntityNotFoundException"


def test_kill9_keeps_the_catalog(tmp_path):
    """What the catalog acknowledged survives a kill -9."""
    data = str(tmp_path / "data")
    s = Server(data).start()
    try:
        glue = client("glue", s.endpoint)
        glue.create_database(DatabaseInput={"Name": "kept"})
        orders_table(glue, "kept")
        glue.create_partition(DatabaseName="kept", TableName="orders",
                              PartitionInput={"Values": ["2024", "5"]})
        s.kill9()
        s = Server(data).start()
        glue = client("glue", s.endpoint)
        assert glue.get_table(DatabaseName="kept", Name="orders")["Table"]["Name"] == "orders"
        parts = glue.get_partitions(DatabaseName="kept", TableName="orders")["Partitions"]
        assert [p["Values"] for p in parts] == [["2024", "5"]]
    finally:
        assert s.stop() == 0, s.logs()

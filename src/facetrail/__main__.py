from facetrail.cli.main import app

app(prog_name="facetrail")

"""facetrail.cli"""

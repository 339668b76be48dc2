"""facetrail.index"""

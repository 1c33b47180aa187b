import CGDAL

extension UInt16: GDALPixel { public static var gdalType: GDALDataType { GDT_UInt16 } }
